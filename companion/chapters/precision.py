"""Chapter 1, section "precision": does bf16 autocast cost quality? FID per epoch, fp32 against bf16.

Trains the non-saturating loss for ``--epochs`` epochs (default 10: enough to see whether the
curves separate) in float32 and in bfloat16 autocast, for several seeds, and draws FID per epoch of
both (mean over seeds with a min-max band) and a table of final and best FID (mean ± std) with the
seconds per epoch. Chapter 1's runs in one of the precisions are reused, their first ``--epochs``
epochs (the learning rate is constant, so these are exactly the epochs of a shorter run); the
others go to ``runs/precision/<precision>/seed<k>``.

    python -m companion.chapters.precision --seeds 3 --epochs 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

from companion.aggregate import band, mean_std, mean_std_text
from companion.artifacts import new_figure, save_figure, write_json
from companion.chapters import gan_losses
from companion.chapters.common import Chapter, duration, markdown_table, write_text
from companion.runlog import RunLog

__all__ = ["CHAPTER", "PRECISIONS", "main"]

PRECISIONS = ("fp32", "bf16")
COLORS = {"fp32": "tab:blue", "bf16": "tab:orange"}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument(
        "--chapter-runs",
        type=Path,
        default=Path("runs") / "gan_losses",
        help="chapter 1's runs folder, whose non-saturating runs are reused where their precision matches",
    )


def _recorded_precision(run: Path) -> str | None:
    try:
        return json.loads((run / "config.json").read_text()).get("precision")
    except (OSError, ValueError):
        return None


def run_dir(args: argparse.Namespace, precision: str, seed: int) -> Path:
    """Chapter 1's run of this seed if it was trained in ``precision``, else this study's own folder."""
    tag = "dry" if args.dry_run else "full"
    chapter = args.chapter_runs / tag / "nonsaturating" / f"seed{seed}"
    if _recorded_precision(chapter) == precision:
        return chapter
    return args.runs / tag / precision / f"seed{seed}"


def compute(args: argparse.Namespace) -> dict[str, Any]:
    if args.seeds <= 0:
        from companion.errors import ConfigError

        raise ConfigError(f"--seeds must be positive, got {args.seeds}")
    ns = argparse.Namespace(**{**vars(args), "preset": "full", "precision": "fp32"})
    base = dataclasses.replace(gan_losses.chapter_config(ns), loss="nonsaturating")
    if not args.dry_run:
        base = dataclasses.replace(base, epochs=args.epochs)
    dirs = {}
    for seed in range(args.seeds):
        for precision in PRECISIONS:
            out = run_dir(args, precision, seed)
            cfg = dataclasses.replace(base, seed=seed, precision=precision)
            if len(RunLog(out / "metrics.jsonl").read("epoch")) < cfg.epochs or str(args.chapter_runs) not in str(out):
                gan_losses.ensure_run(cfg, out, args, command="python -m companion.chapters.precision")
            dirs[(precision, seed)] = out
    return {"cfg": base, "dirs": dirs}


def draw(res: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    dirs, cfg = res["dirs"], res["cfg"]
    seeds = sorted({s for _, s in dirs})
    epochs = {k: RunLog(d / "metrics.jsonl").read("epoch")[: cfg.epochs] for k, d in dirs.items()}
    fig, axes = new_figure(1, 1, 6.0, 3.8)
    ax = axes[0, 0]
    rows, bands = [], {}
    for p in PRECISIONS:
        per = [epochs[(p, s)] for s in seeds]
        b = band([[r["fid"] for r in recs] for recs in per])
        bands[p] = b
        x = list(range(1, len(b["mean"]) + 1))
        ax.plot(x, b["mean"], color=COLORS[p], label=f"{p} (mean of {len(seeds)})")
        ax.fill_between(x, b["min"], b["max"], color=COLORS[p], alpha=0.2, lw=0)
        finals, bests = [recs[-1]["fid"] for recs in per], [min(r["fid"] for r in recs) for recs in per]
        fm, fs = mean_std(finals)
        # Medians over all epochs of all seeds: robust to an epoch slowed by another process.
        sec = statistics.median(r["seconds"] for recs in per for r in recs)
        ips = statistics.median(r["images_per_s"] for recs in per for r in recs)
        rows.append(
            {
                "precision": p,
                "final": mean_std_text(finals, 2),
                "best": mean_std_text(bests, 2),
                "final_mean": fm,
                "final_std": fs,
                "seconds_per_epoch": sec,
                "images_per_s": ips,
                "per_seed_final": finals,
            }
        )
    ax.set(xlabel="epoch", ylabel="FID, classifier features", yscale="log", title="non-saturating loss: fp32 vs bf16")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    save_figure(fig, args.assets / "precision.png")
    table = markdown_table(
        rows,
        [
            ("precision", "precision"),
            ("final", "final FID (mean ± std)"),
            ("best", "best FID (mean ± std)"),
            ("seconds_per_epoch", "s / epoch (median)"),
            ("images_per_s", "images / s (median)"),
        ],
    )
    fp32, bf16 = rows
    gap = bf16["final_mean"] - fp32["final_mean"]
    spread = max(fp32["final_std"], bf16["final_std"])
    verdict = (
        "within the seed-to-seed spread" if abs(gap) <= spread else ("worse in bf16" if gap > 0 else "better in bf16")
    )
    table += (
        f"\nFinal FID difference bf16 − fp32: {gap:+.2f} (largest std across seeds {spread:.2f}): {verdict}. "
        f"Speed: bf16 runs at {bf16['images_per_s'] / fp32['images_per_s']:.2f}x the images per second of fp32 "
        f"on this machine. Per-seed final FID: fp32 {', '.join(f'{v:.2f}' for v in fp32['per_seed_final'])}; "
        f"bf16 {', '.join(f'{v:.2f}' for v in bf16['per_seed_final'])}.\n"
    )
    write_text(args.assets / "results.md", table)
    write_json(
        {"seeds": seeds, "config": dataclasses.asdict(cfg), "rows": rows, "fid_per_epoch": bands, "verdict": verdict},
        args.assets / "results.json",
    )
    print(table)
    own = [k for k, d in dirs.items() if str(args.chapter_runs) not in str(d)]
    seconds = sum(r["seconds"] for k in own for r in epochs[k])
    # The training time comes from the runs' own logs, so a redraw (seconds) still states it.
    note = f"Training time of this study's {len(own)} runs: {duration(seconds)}."
    if len(own) < len(dirs):
        note += f" Reused chapter 1 runs: {len(dirs) - len(own)}."
    return {"loss": "nonsaturating", "epochs": cfg.epochs, "seeds": len(seeds), "fid_samples": cfg.fid_samples}, note


CHAPTER = Chapter(
    name="precision",
    description="Chapter 1, precision: FID per epoch in fp32 and in bf16 autocast, over several seeds.",
    compute=compute,
    draw=draw,
    arguments=_arguments,
)

main = CHAPTER.main


if __name__ == "__main__":
    raise SystemExit(main())
