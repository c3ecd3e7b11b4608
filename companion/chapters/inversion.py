"""Chapter 2: GAN inversion that works: latent optimisation, an encoder, and the hybrid.

Inverts held-out MNIST test digits (never seen by G or E) with chapter 1's non-saturating
generator, and writes into ``docs/assets/inversion/``: ``psnr_vs_compute.png``, ``grid.png``
(input | encoder | optimisation | hybrid | naive), ``encoder_losses.png``, ``results.md`` /
``results.json`` and ``command.md``.

    python -m companion.chapters.inversion --generator runs/gan_losses/full/nonsaturating/ckpt.pt
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import torch

from companion.artifacts import image_grid, new_figure, write_json
from companion.chapters.common import chapter_parser, markdown_table, record_command
from companion.errors import CompanionError
from companion.inversion import (
    EncoderConfig,
    InversionConfig,
    fit_latent,
    generator_fingerprint,
    load_encoder,
    train_encoder,
)
from companion.metrics import psnr, ssim

__all__ = ["METHODS", "main"]

# --8<-- [start:methods]
#: The settings compared; compute = steps x restarts.
METHODS: dict[str, InversionConfig] = {
    "naive (report)": InversionConfig(steps=500, restarts=1, lr=0.01, prior="none", schedule="none", patience=0),
    "optimise, 1 start": InversionConfig(steps=500, restarts=1, patience=0),
    "optimise, 8 starts": InversionConfig(steps=500, restarts=8, patience=0),
    "hybrid": InversionConfig(steps=1000, restarts=1, lr=0.03, patience=0),
}
# --8<-- [end:methods]
COLORS = {
    "naive (report)": "tab:gray",
    "optimise, 1 start": "tab:orange",
    "optimise, 8 starts": "tab:blue",
    "hybrid": "tab:green",
    "encoder": "tab:red",
}


def _evaluate(
    name: str, recon: torch.Tensor, x: torch.Tensor, labels: torch.Tensor, clf, seconds: float, compute: int
) -> dict:
    with torch.no_grad():
        pred_rec = clf(recon).argmax(1)
        pred_x = clf(x).argmax(1)
    p = psnr(recon, x)
    return {
        "method": name,
        "psnr": float(p.mean()),
        "psnr_median": float(p.median()),
        "ssim": float(ssim(recon, x).mean()),
        "mse": float((recon - x).square().mean()),
        "accuracy": float((pred_rec == labels).float().mean()),
        "agreement": float((pred_rec == pred_x).float().mean()),
        "seconds_per_image": seconds / len(x),
        "compute": compute,
    }


def main(argv: list[str] | None = None) -> int:
    p = chapter_parser("inversion", "Chapter 2: invert a trained generator three ways and compare them honestly.")
    p.add_argument("--generator", type=Path, default=Path("runs") / "gan_losses" / "full" / "nonsaturating" / "ckpt.pt")
    p.add_argument("--n", type=int, default=200, help="held-out test digits to invert")
    p.add_argument("--encoder-epochs", type=int, default=10)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    from companion.data import load_dataset
    from companion.experiment import load_generator
    from companion.metrics import get_classifier
    from companion.train import resolve_device

    try:
        device = resolve_device(args.device)
        dataset = "synthetic" if args.dry_run else "mnist"
        if not args.generator.is_file():
            raise CompanionError(
                f"no generator at {args.generator}: run chapter 1 first "
                "(python -m companion.chapters.gan_losses --preset full) or pass --generator"
            )
        G, spec, _ = load_generator(args.generator, device)
        test = load_dataset(dataset, "test", args.data_dir)
        train = load_dataset(dataset, "train", args.data_dir)
        clf = get_classifier(dataset, args.data_dir, device, not args.no_progress)
    except CompanionError as exc:
        print(f"inversion: error: {exc}", file=__import__("sys").stderr)
        return 2
    n = min(args.n, len(test))
    x = test.float_images(slice(0, n)).to(device)
    labels = test.labels[:n].to(device)
    methods = dict(METHODS)
    if args.dry_run:
        methods = {k: dataclasses.replace(v, steps=max(10, v.steps // 25)) for k, v in methods.items()}
    args.assets.mkdir(parents=True, exist_ok=True)
    # encoder (reused when already trained against this very generator)
    enc_dir = args.runs / ("dry" if args.dry_run else "main") / "encoder"
    enc_ckpt = enc_dir / "ckpt.pt"
    ecfg = EncoderConfig(epochs=1 if args.dry_run else args.encoder_epochs, device=args.device)
    fp = generator_fingerprint(G)
    saved = torch.load(enc_ckpt, weights_only=True) if enc_ckpt.is_file() else {}
    if not (saved.get("generator_fingerprint") == fp and saved.get("epoch") == ecfg.epochs):
        if enc_dir.exists():
            shutil.rmtree(enc_dir)
        train_encoder(G, train.images.to(device), ecfg, enc_dir, progress=not args.no_progress)
    E = load_encoder(enc_ckpt, G, device)
    shutil.copy(enc_dir / "losses.png", args.assets / "encoder_losses.png")

    track = lambda im: float(psnr(im, x).mean())  # noqa: E731 - a one-line probe
    rows, curves, recons = [], {}, {}
    t1 = time.perf_counter()
    with torch.no_grad():
        z_enc = E(x)
        rec_enc = G(z_enc).clamp(0, 1)
    rows.append(_evaluate("encoder", rec_enc, x, labels, clf, time.perf_counter() - t1, 0))
    recons["encoder"] = rec_enc
    for name, cfg in methods.items():
        z0 = z_enc if name == "hybrid" else None
        res = fit_latent(G, x, cfg, z0=z0, track=track, track_every=10)
        rows.append(_evaluate(name, res.images, x, labels, clf, res.seconds, cfg.steps * cfg.restarts))
        curves[name] = res.history
        recons[name] = res.images
        print(f"{name}: {rows[-1]['psnr']:.2f} dB, agreement {rows[-1]['agreement']:.1%}")
    # in-span sanity check
    gz = torch.Generator().manual_seed(123)
    with torch.no_grad():
        x_span = G(torch.randn(n, spec.latent_dim, generator=gz).to(device))
    span_cfg = dataclasses.replace(methods["optimise, 8 starts"], restarts=4)
    span = fit_latent(G, x_span, span_cfg)
    span_psnr = psnr(span.images, x_span)
    base_acc = float((clf(x).argmax(1) == labels).float().mean())

    # PSNR against compute
    fig, axes = new_figure(1, 1, 6, 4)
    ax = axes[0, 0]
    for name, hist in curves.items():
        ax.plot([max(c, 1) for _, c, _ in hist], [v for _, _, v in hist], color=COLORS[name], label=name)
    enc_row = rows[0]
    ax.plot([1], [enc_row["psnr"]], "*", color=COLORS["encoder"], ms=14, label="encoder (one forward pass)")
    ax.set(
        xscale="log",
        xlabel="compute (optimisation steps x restarts)",
        ylabel="mean PSNR to the input (dB)",
        title=f"Inverting {n} held-out MNIST test digits",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.savefig(args.assets / "psnr_vs_compute.png", dpi=110)
    # grid of reconstructions
    k = min(12, n)
    order = ["input", "encoder", "optimise, 8 starts", "hybrid", "naive (report)"]
    stack = torch.cat([x[:k].cpu()] + [recons[m][:k].cpu() for m in order[1:]])
    fig, axes = new_figure(1, 1, 7, 3.2)
    axes[0, 0].imshow(image_grid(stack, nrow=k, padding=1), cmap="gray")
    axes[0, 0].set_yticks([14 + 29 * i for i in range(len(order))], order)
    axes[0, 0].set_xticks([])
    fig.savefig(args.assets / "grid.png", dpi=130)
    results = {
        "n_images": n,
        "generator": str(args.generator),
        "classifier_accuracy_on_originals": base_acc,
        "in_span": {
            "median_psnr": float(span_psnr.median()),
            "mean_psnr": float(span_psnr.mean()),
            "restarts": span_cfg.restarts,
            "steps": span_cfg.steps,
        },
        "methods": rows,
        "settings": {k: dataclasses.asdict(v) for k, v in methods.items()},
        "encoder": dataclasses.asdict(ecfg),
        "curves": curves,
    }
    write_json(results, args.assets / "results.json")
    table = markdown_table(
        rows,
        [
            ("method", "method"),
            ("compute", "compute (steps x restarts)"),
            ("psnr", "PSNR dB"),
            ("psnr_median", "median PSNR"),
            ("ssim", "SSIM"),
            ("mse", "MSE"),
            ("agreement", "same digit as input"),
            ("accuracy", "classifier accuracy"),
            ("seconds_per_image", "s / image"),
        ],
    )
    table += (
        f"\nIn-span check (x = G(z*) for {n} random z*, {span_cfg.restarts} restarts x {span_cfg.steps} "
        f"steps): median PSNR {float(span_psnr.median()):.1f} dB. Classifier accuracy on the "
        f"original digits: {base_acc:.1%}.\n"
    )
    (args.assets / "results.md").write_text(table)
    record_command(
        args.assets,
        "inversion",
        argv,
        {"n": n, "generator": str(args.generator), "encoder_epochs": ecfg.epochs, "device": str(device)},
        time.perf_counter() - t0,
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
