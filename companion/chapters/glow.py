"""Part II.1, continued: a Glow on 28x28 digits, its exact bits per dimension, and what a likelihood ranks.

Trains two Glows (`companion.density`, the same code as ``companion flow train``): one on MNIST,
one on Fashion-MNIST. Then scores, in bits per dimension (K dequantisation draws each): the
10,000 test images of both sets under both flows; chapter 1's GAN samples; chapter 3's noisy
(sigma 0.5) and GAN-restored test digits; uniform noise. It samples the flow and measures FID
and classes covered beside the GAN's, in the book's classifier features, and measures the AUROC
of bits/dim as an out-of-distribution score before and after the input-complexity correction
(`companion.ood`). Writes ``docs/assets/glow/``.

    python -m companion.chapters.glow                  # the book's runs (about 2 CPU hours the first time)
    python -m companion.chapters.glow --preset quick   # the whole chapter in minutes

Runs live in ``runs/glow/<preset>/<dataset>``; a stopped chapter continues where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from companion.artifacts import image_grid, new_figure, save_figure, write_json
from companion.chapters.common import (
    Chapter,
    add_model_options,
    cached,
    content_key,
    duration,
    markdown_table,
    write_text,
)
from companion.errors import CompanionError

__all__ = ["CHAPTER", "LITERATURE", "histogram_bpd", "main"]

#: Published MNIST test bits/dim (dequantised 8-bit images), and where each number is printed.
LITERATURE = [
    ("RealNVP (Dinh et al., 2017)", 1.06, "FFJORD, Table 2 (Grathwohl et al., 2019)"),
    ("Glow (Kingma & Dhariwal, 2018)", 1.05, "FFJORD, Table 2 (Grathwohl et al., 2019)"),
    ("FFJORD (Grathwohl et al., 2019)", 0.99, "FFJORD, Table 2"),
    ("Residual Flows (Chen et al., 2019)", 0.97, "Residual Flows, Table 2"),
]
SIGMA = 0.5  # chapter 3's hardest noise level


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=("quick", "book"), default="book")
    p.add_argument("--fashion-epochs", type=int, default=None, help="epochs of the Fashion-MNIST flow (default 10)")
    p.add_argument("--draws", type=int, default=None, help="dequantisation draws per score (default 4; quick 1)")
    add_model_options(p, "chapter 1's GAN (its samples are scored and compared)")


def _assets(args: argparse.Namespace) -> Path:
    from companion.chapters.common import DOCS

    base = DOCS / "assets" / "glow"
    return base if args.preset == "book" else base / "quick"


def _configs(args: argparse.Namespace) -> dict[str, Any]:
    from companion.density import make_flow_config

    if args.dry_run:
        base = make_flow_config(None, dataset="synthetic", epochs=1, depth=2, hidden=8, warmup=10, eval_images=64,
                                device=args.device)  # fmt: skip
        return {"mnist": base, "fashion-mnist": dataclasses.replace(base, seed=1)}
    base = make_flow_config(args.preset, dataset="mnist", device=args.device)
    fashion_epochs = args.fashion_epochs or (base.epochs if args.preset == "quick" else 10)
    return {"mnist": base, "fashion-mnist": dataclasses.replace(base, dataset="fashion-mnist", epochs=fashion_epochs)}


def _ensure_flow(cfg, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Train, resume or reuse one flow run (complete with the same settings: reused)."""
    from companion.density import FlowConfig
    from companion.flowtrain import run_flow_training
    from companion.runlog import RunLog

    done = RunLog(out / "metrics.jsonl").read("epoch")
    if (out / "summary.json").is_file() and len(done) == cfg.epochs:
        saved = FlowConfig(**json.loads((out / "config.json").read_text())["config"])
        if dataclasses.replace(saved, device=cfg.device) == cfg:
            return json.loads((out / "summary.json").read_text())
    resume = (out / "ckpt.pt").is_file()
    from companion.rundir import is_run

    explicit = {f.name for f in dataclasses.fields(FlowConfig)} - {"device"}
    return run_flow_training(
        cfg, out, data_dir=args.data_dir, resume=resume, overwrite=not resume and is_run(out), explicit=explicit,
        progress=not args.no_progress, command=f"python -m companion.chapters.glow --preset {args.preset}",
    )  # fmt: skip


def _generator(args: argparse.Namespace, device) -> tuple[torch.nn.Module, str]:
    from companion.chapters.inversion import chapter_generator
    from companion.experiment import load_generator

    gan = chapter_generator(args) if not (args.dry_run and args.generator is None) else None
    if gan is not None and (str(gan).startswith("book:") or Path(gan).is_file()):
        G, _, _ = load_generator(gan, device)
        return G, "chapter 1's non-saturating GAN (seed 0)"
    if not args.dry_run:
        raise CompanionError(f"no generator at {args.generator}: run chapter 1 first or pass --generator")
    from companion.models import ArchSpec, build_generator

    torch.manual_seed(0)
    return build_generator(ArchSpec("report28", 1, 100)).to(device).eval(), "a random generator (dry run)"


def compute(args: argparse.Namespace) -> dict[str, Any]:
    import warnings

    from companion.data import load_dataset
    from companion.density import load_flow, sample_flow, score_bpd
    from companion.device import resolve_device
    from companion.encoder import generator_fingerprint
    from companion.experiment import generate
    from companion.metrics import FIDScorer, get_classifier
    from companion.ood import png_bits
    from companion.restoration import make_task, restore

    warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
    device = resolve_device(args.device)
    tag = "dry" if args.dry_run else args.preset
    quick = args.preset == "quick" or args.dry_run
    draws = args.draws or (1 if quick else 4)
    if draws <= 0:
        raise CompanionError(f"--draws must be positive, got {draws}")
    cfgs = _configs(args)
    runs = {name: args.runs / tag / name for name in cfgs}
    summaries = {name: _ensure_flow(cfg, runs[name], args) for name, cfg in cfgs.items()}
    G, g_name = _generator(args, device)
    n_test = 10000 if not quick else (256 if args.dry_run else 2000)
    n_gen = 5000 if not quick else (256 if args.dry_run else 2000)
    n_restore = 200 if not quick else (16 if args.dry_run else 50)
    data = {name: load_dataset(cfg.dataset, "test", args.data_dir).images[:n_test] for name, cfg in cfgs.items()}
    if args.dry_run:  # one synthetic set stands in for both; the second is mirrored so that they differ
        data["fashion-mnist"] = data["fashion-mnist"].flip(3)
    digest = {n: hashlib.sha256((runs[n] / "ckpt.pt").read_bytes()).hexdigest() for n in runs}
    key = content_key(
        cfgs={k: dataclasses.asdict(v) for k, v in cfgs.items()}, draws=draws, n=(n_test, n_gen, n_restore),
        generator=generator_fingerprint(G), flows=digest,
    )  # fmt: skip

    def score_everything() -> dict[str, Any]:
        t0 = time.perf_counter()
        flows = {name: load_flow(runs[name] / "ckpt.pt", device)[0] for name in runs}
        mnist = data["mnist"]
        gan = generate(G, n_gen, 100, seed=0, device=device)
        op = make_task("denoise", SIGMA, n_restore)
        x = mnist[:n_restore].float().div(255).to(device)
        noisy = op.degrade(x, seed=1)
        from companion.chapters.restoration import GAN_PRIOR

        cfg = GAN_PRIOR if not quick else dataclasses.replace(GAN_PRIOR, steps=100 if not args.dry_run else 10,
                                                                restarts=2)  # fmt: skip
        restored = restore(G, noisy, op, cfg).images
        noise = torch.randint(0, 256, (n_restore, 1, 28, 28), generator=torch.Generator().manual_seed(0),
                              dtype=torch.uint8)  # fmt: skip
        flow_samples = {t: sample_flow(flows["mnist"], n_gen, t, seed=0, device=device) for t in (1.0, 0.7)}
        sets_mnist = {
            "MNIST test digits": mnist,
            f"{g_name.split(' (')[0]} samples": gan,
            f"noisy digits (σ = {SIGMA})": noisy.cpu(),
            "restored by the GAN prior": restored.cpu(),
            "uniform noise": noise,
            "Fashion-MNIST test images": data["fashion-mnist"],
        }
        score = {
            "mnist": {k: score_bpd(flows["mnist"], v, draws, seed=0, device=device) for k, v in sets_mnist.items()},
            "fashion-mnist": {
                "Fashion-MNIST test images": score_bpd(flows["fashion-mnist"], data["fashion-mnist"], draws, 0,
                                                       device=device),
                "MNIST test digits": score_bpd(flows["fashion-mnist"], mnist, draws, seed=0, device=device),
            },
        }  # fmt: skip
        png = {"mnist": png_bits(mnist), "fashion-mnist": png_bits(data["fashion-mnist"])}
        clf = get_classifier("synthetic" if args.dry_run else "mnist", args.data_dir, device, not args.no_progress)
        scorer = FIDScorer(clf, mnist if not args.dry_run else data["mnist"], device)
        fid = {"GAN": scorer.score_images(gan)}
        for t, s in flow_samples.items():
            fid[f"Glow, T = {t}"] = scorer.score_images(s)
        bpd_samples = {f"Glow, T = {t}": score_bpd(flows["mnist"], s, draws, seed=0, device=device)
                       for t, s in flow_samples.items()}  # fmt: skip
        bpd_samples["GAN"] = score["mnist"][f"{g_name.split(' (')[0]} samples"]
        return {
            "score": score,
            "png": png,
            "fid": {k: {"fid": v["fid"], "modes": v["modes"]} for k, v in fid.items()},
            "bpd_samples": bpd_samples,
            "shown": {"GAN": gan[:36], **{f"Glow, T = {t}": s[:36] for t, s in flow_samples.items()}},
            "noisy": noisy[:8].cpu(),
            "restored": restored[:8].cpu(),
            "score_seconds": time.perf_counter() - t0,
        }

    results = cached(args.runs / tag / "scores.pt", key, score_everything)
    histogram = {name: histogram_bpd(load_dataset(cfg.dataset, "train", args.data_dir).images, data[name])
                 for name, cfg in cfgs.items()}  # fmt: skip
    return {**results, "cfgs": cfgs, "runs": runs, "summaries": summaries, "draws": draws, "g_name": g_name,
            "histogram": histogram, "n": (n_test, n_gen, n_restore)}  # fmt: skip


def histogram_bpd(train: torch.Tensor, test: torch.Tensor) -> float:
    """The trivial baseline: each pixel its own 256-way histogram from the training images (add-one smoothed),
    no dependence between pixels; the mean bits/dim of ``test`` under it (exact: no dequantisation needed)."""
    x = train.flatten(1).long()
    counts = torch.zeros(x.shape[1], 256, dtype=torch.float64)
    counts.scatter_add_(1, x.T.contiguous(), torch.ones(x.shape[1], x.shape[0], dtype=torch.float64))
    logp = ((counts + 1) / (counts + 1).sum(1, keepdim=True)).log2()
    t = test.flatten(1).long()
    return float(-logp.gather(1, t.T.contiguous()).T.sum(1).mean() / t.shape[1])


def _hist(ax, values: dict[str, torch.Tensor], bins, colors=None) -> None:
    for i, (label, v) in enumerate(values.items()):
        ax.hist(v.numpy(), bins=bins, histtype="stepfilled", alpha=0.45, density=True,
                color=None if colors is None else colors[i], label=f"{label} ({float(v.mean()):.2f})")  # fmt: skip


def draw(results: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from companion.ood import auroc, complexity_corrected
    from companion.runlog import RunLog

    assets: Path = args.assets
    score, cfgs, summaries = results["score"], results["cfgs"], results["summaries"]
    draws, (n_test, n_gen, n_restore) = results["draws"], results["n"]
    mn, fa = score["mnist"], score["fashion-mnist"]

    # 1. What p(x) ranks, under the MNIST flow.
    fig, axes = new_figure(1, 1, 7.5, 3.6)
    ax = axes[0][0]
    shown = {k: v for k, v in mn.items() if k not in ("uniform noise", "Fashion-MNIST test images")}
    hi = max(float(v.quantile(0.99)) for v in shown.values())
    _hist(ax, shown, np.linspace(min(float(v.min()) for v in shown.values()), hi, 80))
    noise = float(mn["uniform noise"].mean())
    # An empty entry: the noise images sit far to the right, and an axis reaching them would squash the rest.
    ax.plot([], [], " ", label=f"uniform noise ({noise:.2f}), off the axis to the right")
    ax.set(xlabel="bits per dimension under the MNIST Glow (lower = more likely)", ylabel="density",
           title="What the MNIST flow's likelihood ranks (mean in brackets)")  # fmt: skip
    ax.legend(fontsize=7, loc="upper center")
    save_figure(fig, assets / "ranks.png")

    # 2. The Fashion-MNIST surprise, and the correction.
    fig, axes = new_figure(3, 1, 3.6, 3.2)
    for ax, (model, s) in zip(axes[0][:2], (("MNIST", mn), ("Fashion-MNIST", fa))):
        two = {"MNIST test digits": s["MNIST test digits"], "Fashion-MNIST test images": s["Fashion-MNIST test images"]}
        lo = min(float(v.quantile(0.001)) for v in two.values())
        hi = max(float(v.quantile(0.999)) for v in two.values())
        _hist(ax, two, np.linspace(lo, hi, 70), colors=["tab:blue", "tab:orange"])
        ax.set(xlabel="bits per dimension", title=f"under the {model} Glow")
        ax.legend(fontsize=6)
    corr = {
        "MNIST test digits": complexity_corrected(fa["MNIST test digits"], _images(args, "mnist", n_test)),
        "Fashion-MNIST test images": complexity_corrected(fa["Fashion-MNIST test images"],
                                                          _images(args, "fashion-mnist", n_test)),
    }  # fmt: skip
    lo = min(float(v.quantile(0.001)) for v in corr.values())
    hi = max(float(v.quantile(0.999)) for v in corr.values())
    _hist(axes[0][2], corr, np.linspace(lo, hi, 70), colors=["tab:blue", "tab:orange"])
    axes[0][2].set(xlabel="bits/dim - PNG bits/dim", title="Fashion Glow, corrected")
    axes[0][2].legend(fontsize=6, loc="upper left")
    save_figure(fig, assets / "ood.png")

    ood_rows = []
    for model, s, inside, outside in (
        ("MNIST Glow", mn, "MNIST test digits", "Fashion-MNIST test images"),
        ("Fashion-MNIST Glow", fa, "Fashion-MNIST test images", "MNIST test digits"),
    ):
        key_in = "mnist" if inside.startswith("MNIST") else "fashion-mnist"
        key_out = "fashion-mnist" if key_in == "mnist" else "mnist"
        c_in = complexity_corrected(s[inside], _images(args, key_in, n_test))
        c_out = complexity_corrected(s[outside], _images(args, key_out, n_test))
        ood_rows.append({
            "model": model, "in": inside, "out": outside,
            "bpd_in": float(s[inside].mean()), "bpd_out": float(s[outside].mean()),
            "auroc": auroc(s[inside], s[outside]), "auroc_corrected": auroc(c_in, c_out),
        })  # fmt: skip
    write_text(assets / "ood.md", markdown_table(ood_rows, [
        ("model", "model"), ("in", "in distribution"), ("out", "out of distribution"),
        ("bpd_in", "bits/dim, in"), ("bpd_out", "bits/dim, out"),
        ("auroc", "AUROC, bits/dim"), ("auroc_corrected", "AUROC, bits/dim - PNG"),
    ]))  # fmt: skip

    # 3. Samples beside the GAN's.
    shown = results["shown"]
    fig, axes = new_figure(len(shown), 1, 3.2, 3.4)
    for ax, (name, imgs) in zip(axes[0], shown.items()):
        ax.imshow(image_grid(imgs[:36], nrow=6, padding=1), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        f = results["fid"][name]
        ax.set_title(f"{name}\nFID {f['fid']:.1f}, {f['modes']} classes", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, assets / "samples.png")
    sample_rows = [
        {"model": name, "fid": results["fid"][name]["fid"], "modes": results["fid"][name]["modes"],
         "bpd": float(results["bpd_samples"][name].mean())}
        for name in shown
    ]  # fmt: skip
    write_text(assets / "samples.md", markdown_table(sample_rows, [
        ("model", "samples of"), ("fid", "FID (classifier features)"), ("modes", "classes covered"),
        ("bpd", "their bits/dim under the MNIST Glow"),
    ], bold={"fid": "min"}))  # fmt: skip

    # 4. Training curves of both flows.
    fig, axes = new_figure(1, 1, 5.0, 3.2)
    for name, color in (("mnist", "tab:blue"), ("fashion-mnist", "tab:orange")):
        recs = RunLog(results["runs"][name] / "metrics.jsonl").read("epoch")
        ep = [r["epoch"] for r in recs]
        axes[0][0].plot(ep, [r["bpd"] for r in recs], "--", color=color, label=f"{name}: training batches")
        held = f"{name}: first {cfgs[name].eval_images:,} test images"
        axes[0][0].plot(ep, [r["test_bpd"] for r in recs], "-o", ms=3, color=color, label=held)
    axes[0][0].set(xlabel="epoch", ylabel="bits per dimension", title="Training (one run per dataset)")
    axes[0][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].legend(fontsize=7)
    save_figure(fig, assets / "training.png")

    # 5. The results table, with the baseline and the literature.
    rows = []
    for name in cfgs:
        s = score[name]["MNIST test digits" if name == "mnist" else "Fashion-MNIST test images"]
        summ = summaries[name]
        se = float(s.std() / math.sqrt(len(s)))
        rows.append({
            "model": f"this book's Glow on {name}", "bpd": f"{float(s.mean()):.3f} ± {se:.3f}",
            "budget": f"{summ['epochs']} epochs, {duration(summ['train_seconds'])} of CPU, "
                      f"{summ['parameters'] / 1e6:.2f} M parameters",
        })  # fmt: skip
        rows.append({"model": f"per-pixel histogram ({name})", "bpd": f"{results['histogram'][name]:.3f}",
                     "budget": "counting"})  # fmt: skip
    for model, value, where in LITERATURE:
        rows.append({"model": model, "bpd": f"{value:.2f}", "budget": f"printed in {where}"})
    write_text(assets / "results.md", markdown_table(rows, [("model", "model"), ("bpd", "test bits/dim"),
                                                            ("budget", "budget / source")]))  # fmt: skip
    ranks = [{"set": k, "bpd": float(v.mean()), "sd": float(v.std()), "n": len(v)} for k, v in mn.items()]
    write_text(assets / "ranks.md", markdown_table(ranks, [("set", "images"), ("bpd", "mean bits/dim"),
                                                          ("sd", "std over images"), ("n", "images")]))  # fmt: skip
    mnist_bpd = score["mnist"]["MNIST test digits"]
    numbers = {
        "mnist_test_bpd": float(mnist_bpd.mean()),
        "mnist_test_bpd_se": float(mnist_bpd.std() / math.sqrt(len(mnist_bpd))),
        "fashion_test_bpd": float(fa["Fashion-MNIST test images"].mean()),
        "draws": draws,
        "ood": ood_rows,
        "samples": sample_rows,
        "ranks": ranks,
        "histogram_bpd": results["histogram"],
        "train_minutes": {k: v["train_seconds"] / 60 for k, v in summaries.items()},
        "epochs": {k: v["epochs"] for k, v in summaries.items()},
        "parameters": {k: v["parameters"] for k, v in summaries.items()},
    }
    write_json(numbers, assets / "results.json")
    settings = {"preset": args.preset, "draws": draws, "test_images": n_test, "samples": n_gen,
                "restored_digits": n_restore, **{f"epochs_{k}": v.epochs for k, v in cfgs.items()}}  # fmt: skip
    seconds = sum(v["train_seconds"] for v in summaries.values())
    runs = ", ".join(f"{k} {v.epochs} epochs" for k, v in cfgs.items())
    note = (
        f"Training time of the two flows: {duration(seconds)} ({runs}). Every score is the mean over {draws} "
        "dequantisation draws (seed 0) of the bound of the flow's exact density."
    )
    if "score_seconds" in results:  # caches written before this was recorded lack it
        note += f" Scoring, sampling and FID: {duration(results['score_seconds'])} (cached for redraws)."
    return settings, note


def _images(args: argparse.Namespace, name: str, n: int) -> torch.Tensor:
    from companion.data import load_dataset

    if args.dry_run:
        x = load_dataset("synthetic", "test", args.data_dir).images[:n]
        return x.flip(3) if name == "fashion-mnist" else x
    return load_dataset(name, "test", args.data_dir).images[:n]


CHAPTER = Chapter(
    name="glow",
    description="Part II.1, continued: a Glow on 28x28 digits, exact bits/dim, and what a likelihood ranks",
    compute=compute,
    draw=draw,
    arguments=_arguments,
    assets=_assets,
)


def main(argv: list[str] | None = None) -> int:
    return CHAPTER.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
