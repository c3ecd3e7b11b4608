"""The closing chapter: the exercise's three generators side by side, on the same held-out digits and budget.

A GAN (chapter 1's, and chapter 4's better preset), GLO with its best sampler (chapter 5) and a Glow
(Part II), each the book's shipped model unless your own run is in ``runs/`` (``--retrain`` trains
what is missing), asked the same questions on the same MNIST test digits:

* samples: FID and classes covered in the book's classifier features, over training seeds where the
  claim is about training (chapter 1's GAN and GLO: ``--seeds``, default 3), beside the trivial sampler
  (each pixel from its own histogram) and real digits (the floor);
* exact bits/dim where a model has one (the Glow), beside the per-pixel histogram;
* inversion PSNR, beside the nearest training digit;
* restoration PSNR for each task with each model as the prior (`companion.priors`: chapter 3's solver and
  budget for the GAN and GLO; MAP in the flow's latent for the Glow, its weight gamma chosen per task on
  validation digits that are never reported), beside chapter 3's classical restorations, with the paired
  difference Glow - GAN and its 95% interval;
* Fashion-MNIST images restored through the MNIST-trained priors (the anchor's second claim);
* parameters, training time and seconds per restoration.

Writes ``docs/assets/compare/``. Every cell is cached by the models' fingerprints and the settings.

    python -m companion.chapters.compare                  # the book's (about two CPU hours the first time)
    python -m companion.chapters.compare --preset quick   # minutes: one seed, fewer digits, shorter solves
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from companion.chapters.common import Chapter, other_chapters_model

__all__ = ["CHAPTER", "FLOW_GRID", "PRESETS", "TASKS", "main"]

#: The restoration tasks (chapter 3's operators): where a GAN's low-dimensional range should help (heavy
#: noise, few measurements) and where representation error should dominate (light noise, many measurements).
TASKS: dict[str, tuple[str, float]] = {
    "noise σ=0.1": ("denoise", 0.1),
    "noise σ=0.5": ("denoise", 0.5),
    "box 14x14": ("box", 14),
    "dropout 50%": ("dropout", 0.5),
    "SR 4x": ("superres", 4),
    "CS m=50": ("cs", 50),
    "CS m=100": ("cs", 100),
    "CS m=300": ("cs", 300),
}
#: The flow prior's weight gamma, searched per task on the validation digits.
FLOW_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
PRESETS: dict[str, dict[str, Any]] = {
    "book": {"n": 100, "n_val": 32, "n_gen": 10000, "seeds": 3, "flow_steps": 500, "tune_steps": 300},
    "quick": {"n": 20, "n_val": 8, "n_gen": 2000, "seeds": 1, "flow_steps": 150, "tune_steps": 100},
    "dry": {"n": 6, "n_val": 4, "n_gen": 256, "seeds": 1, "flow_steps": 8, "tune_steps": 4},
}
#: (label, book model, run of the reader's own, kind) of every model compared.
MODELS = (
    ("GAN (chapter 1)", "gan-nonsaturating", Path("runs/gan_losses/full/nonsaturating/seed0/ckpt.pt")),
    ("GAN (chapter 4, hinge + EMA)", "gan-better", Path("runs/stabilisers/full/better_the_combination/seed0/ckpt.pt")),
    ("GLO (chapter 5)", "glo", Path("runs/glo/book/seed0/ckpt.pt")),
    ("Glow (Part II)", "glow-mnist", Path("runs/glow/book/mnist/ckpt.pt")),
)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=("book", "quick"), default="book")
    p.add_argument("--seeds", type=int, default=None, help="training seeds of chapter 1's GAN and of GLO (book: 3)")
    p.add_argument("--retrain", action="store_true", help="train the models this chapter compares instead of "
                   "taking the book's shipped ones")  # fmt: skip


def _assets(args: argparse.Namespace) -> Path:
    from companion.chapters.common import DOCS

    return DOCS / "assets" / "compare" / ("" if args.preset == "book" else "quick")


def _dry_models(folder: Path) -> dict[str, Path]:
    """Tiny models of each kind on synthetic digits (the dry run checks the pipeline, not the numbers)."""
    from companion.cli import main as cli
    from companion.config import make_config
    from companion.experiment import run_training
    from companion.glo import make_glo_config, run_glo_training

    out = {}
    gan = folder / "gan"
    if not (gan / "summary.json").is_file():
        cfg = make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
        run_training(cfg, gan, progress=False, render=False, overwrite=gan.exists())
    glo = folder / "glo"
    if not (glo / "summary.json").is_file():
        run_glo_training(make_glo_config(None, dataset="synthetic", epochs=1, device="cpu", n_fixed=8), glo,
                         progress=False, overwrite=glo.exists())  # fmt: skip
    flow = folder / "flow"
    if not (flow / "summary.json").is_file():
        argv = ["flow", "train", "--out", str(flow), "--dataset", "synthetic", "--epochs", "1", "--depth", "2",
                "--hidden", "8", "--batch-size", "64", "--eval-images", "64", "--device", "cpu", "--warmup", "10",
                "--no-progress"] + (["--overwrite"] if flow.exists() else [])  # fmt: skip
        cli(argv)
    for label, _, _ in MODELS:
        kind = "flow" if "Glow" in label else ("glo" if "GLO" in label else "gan")
        out[label] = {"gan": gan, "glo": glo, "flow": flow}[kind] / "ckpt.pt"
    return out


def _models(args: argparse.Namespace, tag: str) -> dict[str, Path | str]:
    """Each compared model's checkpoint: the reader's run, else the book's, or trained under ``--retrain``."""
    if args.dry_run:
        return _dry_models(args.runs / tag / "models")
    from companion.chapters import gan_losses

    out: dict[str, Path | str] = {}
    for label, book, run in MODELS:
        train = (lambda: gan_losses.ensure_generator(args)) if book == "gan-nonsaturating" else _untrainable(book)
        out[label] = other_chapters_model(None, run, book, args.retrain, train)
    return out


def _untrainable(book: str):
    def train() -> Path:
        from companion.bookmodels import BOOK
        from companion.errors import CompanionError

        raise CompanionError(f"--retrain: train book:{book} with its own chapter first ({BOOK[book].retrain})")

    return train


def _seed_runs(args: argparse.Namespace, seeds: int) -> dict[str, list[Path | str]]:
    """Chapter 1's GAN and GLO for training seeds 1.. (seed 0 is the compared model): their chapters' runs."""
    if seeds <= 1 or args.dry_run:
        return {}
    from companion.chapters import gan_losses
    from companion.chapters import glo as glo_chapter

    ns = argparse.Namespace(**{**vars(args), "preset": "full", "precision": "auto"})
    cfg = gan_losses.chapter_config(ns)
    gans, glos = [], []
    for s in range(1, seeds):
        out = Path("runs/gan_losses/full/nonsaturating") / f"seed{s}"
        gan_losses.ensure_run(dataclasses.replace(cfg, loss="nonsaturating", seed=s), out, ns)
        gans.append(out / "ckpt.pt")
        glos.append(glo_chapter.ensure_seed(args, s))
    return {"GAN (chapter 1)": gans, "GLO (chapter 5)": glos}


def compute(args: argparse.Namespace) -> dict[str, Any]:
    from companion.chapters.compare_work import inversion_rows, ood_rows, restoration_rows, sample_rows
    from companion.data import load_dataset
    from companion.device import resolve_device
    from companion.errors import CompanionError
    from companion.priors import load_prior

    tag = "dry" if args.dry_run else args.preset
    p = dict(PRESETS[tag])
    seeds = args.seeds if args.seeds is not None else p["seeds"]
    if seeds <= 0:
        raise CompanionError(f"--seeds must be positive, got {seeds}")
    device = resolve_device(args.device)
    models = _models(args, tag)
    priors = {label: load_prior(ref, device) for label, ref in models.items()}
    dataset = "synthetic" if args.dry_run else "mnist"
    test, train = load_dataset(dataset, "test", args.data_dir), load_dataset(dataset, "train", args.data_dir)
    n, n_val = p["n"], p["n_val"]
    x = test.float_images(slice(0, n)).to(device)
    # Validation digits, never reported: the end of the test set (chapter 3's validation slice).
    x_val = test.float_images(slice(len(test) - n_val, len(test))).to(device)
    work = {"args": args, "tag": tag, "p": p, "device": device, "priors": priors, "models": models,
            "x": x, "x_val": x_val, "train": train, "test": test, "cache": args.runs / tag}  # fmt: skip
    t0 = time.perf_counter()
    samples = sample_rows(work, _seed_runs(args, seeds))
    inversion = inversion_rows(work)
    restoration = restoration_rows(work, TASKS, FLOW_GRID)
    # The MNIST-trained flow keeps the gamma its MNIST validation digits chose: nothing is tuned on Fashion-MNIST.
    work["gamma_mnist_sigma01"] = restoration["gammas"].get("noise σ=0.1")
    ood = ood_rows(work, FLOW_GRID)
    return {
        "samples": samples, "inversion": inversion, "restoration": restoration, "ood": ood,
        "models": {k: str(v) for k, v in models.items()}, "preset": tag, "p": p, "seeds": seeds,
        "seconds": time.perf_counter() - t0, "x": x.cpu(),
    }  # fmt: skip


def draw(results: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from companion.chapters.compare_draw import draw_all

    return draw_all(results, args)


CHAPTER = Chapter(
    name="compare",
    description="The three generators (GAN, GLO, Glow) side by side: samples, likelihood, inversion, restoration.",
    compute=compute,
    draw=draw,
    arguments=_arguments,
    assets=_assets,
)


def main(argv: list[str] | None = None) -> int:
    return CHAPTER.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
