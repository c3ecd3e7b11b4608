"""Chapter 2: GAN inversion that works: latent optimisation, an encoder, and the hybrid.

Inverts held-out MNIST test digits (never seen by G or E) with chapter 1's non-saturating
generator, and writes into ``docs/assets/inversion/``: ``psnr_vs_compute.png``, ``grid.png``
(input | encoder | optimisation | hybrid | naive), ``encoder_losses.png``, ``results.md`` /
``results.json`` and ``command.md``. Every result is cached under ``--runs`` by the
generator's fingerprint and the settings, so a re-run redraws without recomputing.

    python -m companion.chapters.inversion              # the book's generator and encoder (book:gan-nonsaturating)
    python -m companion.chapters.inversion --retrain    # train chapter 1's generator and this encoder first

With no ``--generator``, the generator is chapter 1's run if it is in ``runs/``, else the one the book
ships; the encoder is this chapter's run for that generator if there is one, else the book's
(``book:encoder``, trained against ``book:gan-nonsaturating``), else it is trained here.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import torch

from companion.artifacts import image_grid, new_figure, render_run, save_figure, write_json
from companion.chapters.common import (
    CHAPTER1_GENERATOR,
    Chapter,
    add_model_options,
    cached,
    content_key,
    markdown_table,
    other_chapters_model,
    write_text,
)
from companion.encoder import EncoderConfig, generator_fingerprint, load_encoder, train_encoder
from companion.errors import CompanionError
from companion.inversion import InversionConfig, fit_latent
from companion.metrics import psnr, ssim

__all__ = ["CHAPTER", "METHODS", "chapter_generator", "ensure_encoder", "main"]

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


def _arguments(p: argparse.ArgumentParser) -> None:
    add_model_options(p)
    p.add_argument("--n", type=int, default=200, help="held-out test digits to invert")
    p.add_argument("--encoder-epochs", type=int, default=10)


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


def chapter_generator(args: argparse.Namespace) -> Path | str:
    """The generator chapters 2, 3 and 5 use (see `companion.chapters.common.other_chapters_model`)."""
    from companion.chapters import gan_losses

    return other_chapters_model(
        args.generator, CHAPTER1_GENERATOR, "gan-nonsaturating", args.retrain, lambda: gan_losses.ensure_generator(args)
    )


def ensure_encoder(
    G, images: torch.Tensor, cfg: EncoderConfig, runs: Path, progress: bool, retrain: bool = True
) -> Path | str:
    """The encoder for ``G``: this chapter's run in ``runs/encoder_<fingerprint>`` (trained, resumed or reused).

    Without ``retrain``, and with no such run, the book's ``book:encoder`` when it was trained for
    this very generator (same fingerprint) and with these settings; otherwise the run is trained here.
    """
    from companion.bookmodels import shipped
    from companion.checkpoint import ENCODER_FORMAT, load_checkpoint
    from companion.rundir import is_run, prepare_run_dir

    fp = generator_fingerprint(G)
    folder = runs / f"encoder_{fp}"
    ckpt = folder / "ckpt.pt"
    if not retrain and not ckpt.is_file() and shipped("encoder"):
        book = load_checkpoint("book:encoder", ENCODER_FORMAT, keys=("generator_fingerprint", "config"))
        same = {k: v for k, v in book["config"].items() if k != "device"} == {
            k: v for k, v in dataclasses.asdict(cfg).items() if k != "device"
        }
        if book["generator_fingerprint"] == fp and same:
            return "book:encoder"
    if ckpt.is_file():
        saved = load_checkpoint(ckpt, ENCODER_FORMAT, keys=("epoch", "config"))
        if saved["epoch"] >= cfg.epochs and saved["config"] == dataclasses.asdict(cfg):
            return ckpt
    resume = ckpt.is_file()
    prepare_run_dir(folder, resume=resume, overwrite=not resume and is_run(folder))
    train_encoder(G, images, cfg, folder, resume=resume, progress=progress)
    render_run(folder)
    return ckpt


def compute(args: argparse.Namespace) -> dict[str, Any]:
    from companion.data import load_dataset
    from companion.device import resolve_device
    from companion.experiment import load_generator
    from companion.metrics import get_classifier

    device = resolve_device(args.device)
    dataset = "synthetic" if args.dry_run else "mnist"
    args.generator = chapter_generator(args)
    if not str(args.generator).startswith("book:") and not Path(args.generator).is_file():
        raise CompanionError(
            f"no generator at {args.generator}: run chapter 1 first "
            "(python -m companion.chapters.gan_losses --preset full) or pass --generator"
        )
    if args.n <= 0:
        raise CompanionError(f"--n must be positive, got {args.n}")
    G, spec, _ = load_generator(args.generator, device)
    fp = generator_fingerprint(G)
    test = load_dataset(dataset, "test", args.data_dir)
    clf = get_classifier(dataset, args.data_dir, device, not args.no_progress)
    n = min(args.n, len(test))
    x = test.float_images(slice(0, n)).to(device)
    labels = test.labels[:n].to(device)
    methods = dict(METHODS)
    if args.dry_run:
        methods = {k: dataclasses.replace(v, steps=max(10, v.steps // 25)) for k, v in methods.items()}
    tag = args.runs / ("dry" if args.dry_run else "main")
    ecfg = EncoderConfig(epochs=1 if args.dry_run else args.encoder_epochs, device=args.device)
    train = load_dataset(dataset, "train", args.data_dir)
    enc_ckpt = ensure_encoder(G, train.images.to(device), ecfg, tag, not args.no_progress, args.retrain)
    E = load_encoder(enc_ckpt, G, device)

    track = lambda im: float(psnr(im, x).mean())  # noqa: E731 - a one-line probe

    def solve() -> dict[str, Any]:
        import time

        rows, curves, recons = [], {}, {}
        t1 = time.perf_counter()
        with torch.no_grad():
            z_enc = E(x)
            rec_enc = G(z_enc).clamp(0, 1)
        rows.append(_evaluate("encoder", rec_enc, x, labels, clf, time.perf_counter() - t1, 0))
        recons["encoder"] = rec_enc.cpu()
        for name, cfg in methods.items():
            z0 = z_enc if name == "hybrid" else None
            res = fit_latent(G, x, cfg, z0=z0, track=track, track_every=10)
            rows.append(_evaluate(name, res.images, x, labels, clf, res.seconds, cfg.steps * cfg.restarts))
            curves[name] = [list(h) for h in res.history]
            recons[name] = res.images.cpu()
            print(f"{name}: {rows[-1]['psnr']:.2f} dB, agreement {rows[-1]['agreement']:.1%}")
        # in-span sanity check: x = G(z*) must be recovered almost exactly
        gz = torch.Generator().manual_seed(123)
        with torch.no_grad():
            x_span = G(torch.randn(n, spec.latent_dim, generator=gz).to(device))
        span_cfg = dataclasses.replace(methods["optimise, 8 starts"], restarts=4)
        span_psnr = psnr(fit_latent(G, x_span, span_cfg).images, x_span)
        with torch.no_grad():
            base_acc = float((clf(x).argmax(1) == labels).float().mean())
        return {
            "rows": rows,
            "curves": curves,
            "recons": recons,
            "span": {
                "median_psnr": float(span_psnr.median()),
                "mean_psnr": float(span_psnr.mean()),
                "restarts": span_cfg.restarts,
                "steps": span_cfg.steps,
            },
            "base_acc": base_acc,
        }

    key = content_key(
        generator=fp,
        n=n,
        dataset=dataset,
        methods={k: dataclasses.asdict(v) for k, v in methods.items()},
        encoder=dataclasses.asdict(ecfg),
    )
    results = cached(tag / f"results_{fp}.pt", key, solve)
    return {
        **results,
        "x": x.cpu(),
        "n": n,
        "fingerprint": fp,
        "methods": methods,
        "encoder_cfg": ecfg,
        "encoder_dir": None if str(enc_ckpt).startswith("book:") else enc_ckpt.parent,
        "encoder": str(enc_ckpt),
        "device": str(device),
    }


def draw(res: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    import shutil

    assets, n, rows = args.assets, res["n"], res["rows"]
    if res["encoder_dir"] is not None:  # the book's encoder: the figure of the run that trained it stays
        shutil.copy(res["encoder_dir"] / "losses.png", assets / "encoder_losses.png")
    # PSNR against compute
    fig, axes = new_figure(1, 1, 6, 4)
    ax = axes[0, 0]
    for name, hist in res["curves"].items():
        ax.plot([max(c, 1) for _, c, _ in hist], [v for _, _, v in hist], color=COLORS[name], label=name)
    ax.plot([1], [rows[0]["psnr"]], "*", color=COLORS["encoder"], ms=14, label="encoder (one forward pass)")
    ax.set(
        xscale="log",
        xlabel="compute (optimisation steps x restarts)",
        ylabel="mean PSNR to the input (dB)",
        title=f"Inverting {n} held-out MNIST test digits",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_figure(fig, assets / "psnr_vs_compute.png")
    # grid of reconstructions
    k = min(12, n)
    order = ["input", "encoder", "optimise, 8 starts", "hybrid", "naive (report)"]
    stack = torch.cat([res["x"][:k]] + [res["recons"][m][:k] for m in order[1:]])
    fig, axes = new_figure(1, 1, 7, 3.2)
    axes[0, 0].imshow(image_grid(stack, nrow=k, padding=1), cmap="gray")
    axes[0, 0].set_yticks([14 + 29 * i for i in range(len(order))], order)
    axes[0, 0].set_xticks([])
    save_figure(fig, assets / "grid.png", dpi=130)
    span = res["span"]
    write_json(
        {
            "n_images": n,
            "generator": str(args.generator),
            "generator_fingerprint": res["fingerprint"],
            "classifier_accuracy_on_originals": res["base_acc"],
            "in_span": span,
            "methods": rows,
            "settings": {k: dataclasses.asdict(v) for k, v in res["methods"].items()},
            "encoder": dataclasses.asdict(res["encoder_cfg"]),
            "curves": res["curves"],
        },
        assets / "results.json",
    )
    table = markdown_table(
        rows,
        [
            ("method", "method"),
            ("compute", "compute (steps x restarts)"),
            ("psnr", "PSNR dB"),
            ("psnr_median", "median PSNR"),
            ("ssim", "SSIM"),
            ("agreement", "same digit as input"),
        ],
        bold={"psnr": "max", "psnr_median": "max", "ssim": "max", "agreement": "max"},
    )
    table += "\n" + markdown_table(
        rows,
        [
            ("method", "method"),
            ("mse", "MSE"),
            ("accuracy", "classifier accuracy"),
            ("seconds_per_image", "s / image"),
        ],
    )
    table += (
        f"\nIn-span check (x = G(z\\*) for {n} random z\\*, {span['restarts']} restarts x {span['steps']} "
        f"steps): median PSNR {span['median_psnr']:.1f} dB. Classifier accuracy on the "
        f"original digits: {res['base_acc']:.1%}.\n"
    )
    write_text(assets / "results.md", table)
    print(table)
    settings = {
        "n": n,
        "generator": str(args.generator),
        "encoder_epochs": res["encoder_cfg"].epochs,
        "device": res["device"],
    }
    return settings, "Results are cached by the generator's fingerprint; a re-run with the same settings only redraws."


CHAPTER = Chapter(
    name="inversion",
    description="Chapter 2: invert a trained generator three ways and compare them honestly.",
    compute=compute,
    draw=draw,
    arguments=_arguments,
)

main = CHAPTER.main


if __name__ == "__main__":
    raise SystemExit(main())
