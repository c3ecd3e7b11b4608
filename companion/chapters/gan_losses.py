"""Chapter 1: the same DCGAN trained with three losses (minimax, non-saturating, LSGAN), several seeds.

Trains the report's 28x28 pair on MNIST once per loss and seed, then draws, from the run
folders alone: FID and mode coverage per epoch (mean over seeds with a min-max band, and the
real-vs-real floor of the same features), D(x), D(G(z)) and the generator's gradient norm over
the first epochs (the saturation mechanism), the fixed latent batch after every epoch as a
labelled figure per loss (and a GIF), loss curves per step, and the results tables.

    python -m companion.chapters.gan_losses --preset full --seeds 3   # the report's 20 epochs
    python -m companion.chapters.gan_losses --preset quick            # try it yourself: 5 epochs, 1 seed

Runs live in ``runs/gan_losses/<preset>/<loss>/seed<k>``; an interrupted chapter run continues
where it stopped (finished runs are reused, a stopped one resumes from its last epoch).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
from pathlib import Path
from typing import Any

from companion.aggregate import band, count, leading_run, mean_std, mean_std_text
from companion.artifacts import epoch_ticks, new_figure, save_epoch_figure, save_figure, save_gif, smooth, write_json
from companion.chapters.common import DOCS, Chapter, cached, content_key, duration, markdown_table, write_text
from companion.config import TrainConfig, make_config
from companion.device import resolve_device
from companion.experiment import run_training
from companion.rundir import is_run
from companion.runlog import RunLog

__all__ = [
    "CHAPTER",
    "LOSS_ORDER",
    "STALL_D_FAKE",
    "chapter_config",
    "ensure_run",
    "fid_floor_cached",
    "main",
    "run_dirs",
    "stalled_epochs",
]

LOSS_ORDER = ("minimax", "nonsaturating", "lsgan")
COLORS = {"minimax": "tab:red", "nonsaturating": "tab:blue", "lsgan": "tab:green"}
#: An epoch counts as stalled (saturated) when D's mean belief in the fakes, D(G(z)), stays below this.
STALL_D_FAKE = 0.01
#: Epochs of per-step numbers shown in the saturation figure.
EARLY_EPOCHS = 3


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=("quick", "full"), default="full")
    p.add_argument("--seeds", type=int, default=None, help="seeds per loss (default: 3 for full, 1 for quick)")
    p.add_argument("--precision", default="auto", help="auto | fp32 | bf16 (see companion.device)")


def _assets(args: argparse.Namespace) -> Path:
    base = DOCS / "assets" / "gan_losses"
    return base if args.preset == "full" else base / "quick"


def chapter_config(args: argparse.Namespace) -> TrainConfig:
    if args.dry_run:
        return make_config(
            None,
            dataset="synthetic",
            epochs=2,
            batch_size=64,
            fid_samples=256,
            device=args.device,
            n_fixed=16,
            precision=args.precision,
        )
    return make_config(args.preset, dataset="mnist", device=args.device, precision=args.precision)


def _seeds(args: argparse.Namespace) -> int:
    n = args.seeds if args.seeds is not None else (3 if args.preset == "full" and not args.dry_run else 1)
    if n <= 0:
        from companion.errors import ConfigError

        raise ConfigError(f"--seeds must be positive, got {n}")
    return n


def run_dirs(args: argparse.Namespace) -> dict[tuple[str, int], Path]:
    """The run folder of every (loss, seed), seed-major (all losses of seed 0 first)."""
    tag = "dry" if args.dry_run else args.preset
    return {(loss, seed): args.runs / tag / loss / f"seed{seed}" for seed in range(_seeds(args)) for loss in LOSS_ORDER}


def ensure_run(cfg: TrainConfig, out: Path, args: argparse.Namespace, command: str | None = None) -> bool:
    """Train, resume or reuse one run; True when it was already complete.

    Args:
        cfg: The run's settings.
        out: Its folder.
        args: The chapter's options (data folder, progress).
        command: What to record in the run's config.json (default: this chapter's command).
    """
    import json

    done = RunLog(out / "metrics.jsonl").read("epoch")
    if (out / "summary.json").is_file() and (out / "ckpt.pt").is_file() and len(done) == cfg.epochs:
        # Normalised through TrainConfig: fields added since the run was written take their defaults.
        saved = dataclasses.asdict(TrainConfig(**json.loads((out / "config.json").read_text())["config"]))
        wanted = dataclasses.asdict(cfg)
        if all(saved.get(k) == v for k, v in wanted.items() if k != "device"):
            return True  # complete with the same settings: reuse (else resuming below refuses the mismatch)
    # Every setting but epochs and device must match a run that is resumed.
    explicit = {f.name for f in dataclasses.fields(TrainConfig)} - {"device"}
    resume = (out / "ckpt.pt").is_file()
    run_training(
        cfg,
        out,
        data_dir=args.data_dir,
        resume=resume,
        overwrite=not resume and is_run(out),
        explicit=explicit,
        progress=not args.no_progress,
        command=command or f"python -m companion.chapters.gan_losses --preset {args.preset}",
    )
    return False


def ensure_generator(args: argparse.Namespace) -> Path:
    """Chapter 1's non-saturating seed-0 run (the book's preset), trained or finished now; returns its checkpoint.

    Another chapter calls this under ``--retrain``, instead of taking ``book:gan-nonsaturating``.
    """
    from companion.chapters.common import CHAPTER1_GENERATOR

    ns = argparse.Namespace(
        dry_run=False, device=args.device, precision="auto", preset="full", data_dir=args.data_dir,
        no_progress=args.no_progress,
    )  # fmt: skip
    cfg = dataclasses.replace(chapter_config(ns), loss="nonsaturating", seed=0)
    ensure_run(cfg, CHAPTER1_GENERATOR.parent, ns)
    return CHAPTER1_GENERATOR


def fid_floor_cached(cfg: TrainConfig, args: argparse.Namespace, folder: Path | None = None) -> list[float]:
    """FID of 3 disjoint sets of real training digits against the test-set reference.

    Cached as ``<folder>/fid_floor.pt``; ``folder`` defaults to this chapter's runs of the preset
    (``<--runs>/<preset>``, or ``dry``); another chapter passes that folder to share the floor.
    """
    from companion.experiment import training_data
    from companion.metrics import FIDScorer, fid_floor, get_classifier

    device = resolve_device(cfg.device)
    n = cfg.fid_samples
    key = content_key(dataset=cfg.dataset, n=n, arch=cfg.arch, what="fid-floor")

    def compute() -> dict[str, Any]:
        clf = get_classifier(cfg.dataset, args.data_dir, device, not args.no_progress)
        scorer = FIDScorer(clf, training_data(cfg, args.data_dir, "test").images, device)
        repeats = 3 if not args.dry_run else 2
        return {"floor": fid_floor(scorer, training_data(cfg, args.data_dir).images, n, repeats)}

    folder = folder or args.runs / ("dry" if args.dry_run else args.preset)
    return cached(folder / "fid_floor.pt", key, compute)["floor"]


def compute(args: argparse.Namespace) -> dict[str, Any]:
    cfg = chapter_config(args)
    dirs = run_dirs(args)
    reused = []
    for (loss, seed), out in dirs.items():
        if ensure_run(dataclasses.replace(cfg, loss=loss, seed=seed), out, args):
            reused.append(f"{loss}/seed{seed}")
    floor = fid_floor_cached(cfg, args) if cfg.fid_samples else []
    return {"cfg": cfg, "dirs": dirs, "reused": reused, "floor": floor}


def stalled_epochs(epoch_records: list[dict[str, Any]]) -> int:
    """Epochs from the start in which D(G(z)) stayed below `STALL_D_FAKE` (the saturated phase)."""
    return leading_run([r["d_fake"] for r in epoch_records], lambda v: v < STALL_D_FAKE)


def _plot_band(ax, x, b: dict[str, list[float]], color: str, label: str) -> None:
    ax.plot(x, b["mean"], "-", color=color, label=label, lw=1.5)
    ax.fill_between(x, b["min"], b["max"], color=color, alpha=0.2, lw=0)


def draw(results: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    cfg: TrainConfig = results["cfg"]
    dirs: dict[tuple[str, int], Path] = results["dirs"]
    assets: Path = args.assets
    seeds = sorted({s for _, s in dirs})
    logs = {key: RunLog(d / "metrics.jsonl") for key, d in dirs.items()}
    epochs = {key: log.read("epoch") for key, log in logs.items()}
    has_fid = all("fid" in r for recs in epochs.values() for r in recs)
    floor = results["floor"]
    floor_mean = mean_std(floor)[0] if floor else None
    x_ep = list(range(1, cfg.epochs + 1))

    # 1. FID and mode coverage per epoch: mean over seeds, min-max band, the real-vs-real floor.
    fig, axes = new_figure(2, 1, 4.8, 3.5)
    bands: dict[str, dict[str, dict[str, list[float]]]] = {}
    for loss in LOSS_ORDER:
        per = [epochs[(loss, s)] for s in seeds]
        bands[loss] = {k: band([[r[k] for r in recs] for recs in per]) for k in ("d_real", "d_fake")}
        if has_fid:
            bands[loss]["fid"] = band([[r["fid"] for r in recs] for recs in per])
            bands[loss]["modes"] = band([[float(r["modes"]) for r in recs] for recs in per])
            _plot_band(axes[0][0], x_ep, bands[loss]["fid"], COLORS[loss], loss)
            _plot_band(axes[0][1], x_ep, bands[loss]["modes"], COLORS[loss], loss)
    if floor_mean is not None:
        axes[0][0].axhline(floor_mean, color="#7f7f7f", ls="--", lw=1, label="real vs real (floor)")
    spread = f"mean of {len(seeds)} seeds, band = min..max" if len(seeds) > 1 else "one seed: an anecdote"
    axes[0][0].set(xlabel="epoch", ylabel="FID, classifier features (lower is better)", yscale="log", title=spread)
    axes[0][1].set(xlabel="epoch", ylabel="digit classes covered (of 10)", ylim=(0, 10.5), title=spread)
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, assets / "fid_modes.png")

    # 2. The saturation mechanism over the first epochs, per step: D(x), D(G(z)), ||grad G||.
    steps = {key: log.read("step") for key, log in logs.items()}
    n_early = min(EARLY_EPOCHS, cfg.epochs)
    fig, axes = new_figure(3, 1, 3.9, 3.3)
    for loss in LOSS_ORDER:
        early = [[r for r in steps[(loss, s)] if r["epoch"] <= n_early] for s in seeds]
        x = [r["step"] for r in early[0]]
        for ax, key in zip(axes[0], ("d_real", "d_fake", "g_grad_norm")):
            _plot_band(ax, x, band([smooth([r[key] for r in e]) for e in early]), COLORS[loss], loss)
    titles = ("D(x) on real digits", "D(G(z)) on fakes", "generator gradient norm")
    for ax, title in zip(axes[0], titles):
        ax.set(xlabel="step (25-step average)", title=title)
        ax.grid(alpha=0.3)
    axes[0][2].set_yscale("log")
    axes[0][0].set_ylabel("sigmoid output (BCE); raw output (LSGAN)")
    axes[0][0].legend(fontsize=8)
    save_figure(fig, assets / "saturation.png")

    # 3. Loss curves per step, as the report showed them (seed 0), with epoch ticks.
    fig, axes = new_figure(3, 1, 4.2, 3.2)
    for ax, loss in zip(axes[0], LOSS_ORDER):
        st = steps[(loss, seeds[0])]
        x = [r["step"] for r in st]
        ax.plot(x, smooth([r["d_loss"] for r in st], 50), label="D loss", color="#555555", lw=1.0)
        ax.plot(x, smooth([r["g_loss"] for r in st], 50), label="G loss", color=COLORS[loss], lw=1.0)
        epoch_ticks(ax, st)
        ax.set(title=f"{loss} (seed {seeds[0]})", xlabel="step (50-step average)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("loss")
    save_figure(fig, assets / "loss_curves.png")

    # 4. The fixed latent batch after every epoch, labelled, per loss (seed 0); the GIF as an extra.
    import numpy as np

    for loss in LOSS_ORDER:
        run = dirs[(loss, seeds[0])]
        frames = [(int(p.stem.split("_")[1]), np.load(p)) for p in sorted((run / "fixed").glob("epoch_*.npy"))]
        save_epoch_figure(frames, assets / f"epochs_{loss}.png", title=f"{loss}, seed {seeds[0]}: 16 fixed latents")
        grids = sorted((run / "grids").glob("epoch_*.png"))
        if grids:
            save_gif(grids, assets / f"{loss}.gif")
    for stale in ("minimax", "nonsaturating", "lsgan"):  # per-epoch PNG folders of older versions
        if (assets / stale).is_dir():
            shutil.rmtree(assets / stale)

    # 5. Tables.
    rows, sat_rows = [], []
    for loss in LOSS_ORDER:
        per = [epochs[(loss, s)] for s in seeds]
        row: dict[str, Any] = {"loss": loss, "seeds": len(seeds), "epochs": cfg.epochs}
        if has_fid:
            finals, bests = [recs[-1]["fid"] for recs in per], [min(r["fid"] for r in recs) for recs in per]
            (fm, fs), (bm, bs) = mean_std(finals), mean_std(bests)
            modes = [recs[-1]["modes"] for recs in per]
            row.update(
                final_fid=mean_std_text(finals),
                best_fid=mean_std_text(bests),
                modes=f"{min(modes)}–{max(modes)}" if min(modes) != max(modes) else str(modes[0]),
                final_fid_mean=fm,
                final_fid_std=fs,
                best_fid_mean=bm,
                best_fid_std=bs,
            )
        # The median over all epochs of all seeds: robust to an epoch slowed by another process.
        sec_per_epoch = statistics.median(r["seconds"] for recs in per for r in recs)
        row.update(seconds_per_epoch=sec_per_epoch, precision=_precision(dirs[(loss, seeds[0])]))
        rows.append(row)
        stalls = [stalled_epochs(recs) for recs in per]
        first = [[r for r in steps[(loss, s)] if r["epoch"] == 1] for s in seeds]
        head = [f[: max(1, len(f) // 5)] for f in first]  # the first fifth of epoch 1
        sat_rows.append(
            {
                "loss": loss,
                "early_d_fake": mean_std([sum(r["d_fake"] for r in h) / len(h) for h in head])[0],
                "early_grad": mean_std([sum(r["g_grad_norm"] for r in h) / len(h) for h in head])[0],
                "stalled": ", ".join(str(k) for k in stalls),
                "stalled_2": sum(k >= 2 for k in stalls) if loss != "lsgan" else None,
            }
        )
    table = markdown_table(
        rows,
        [
            ("loss", "loss"),
            ("final_fid", "final FID" + (" (mean ± std)" if len(seeds) > 1 else " (1 seed)")),
            ("best_fid", "best FID" + (" (mean ± std)" if len(seeds) > 1 else " (1 seed)")),
            ("modes", "classes covered"),
            ("seconds_per_epoch", "s / epoch (median)"),
            ("precision", "precision"),
        ],
    )
    if floor:
        fm, fs = mean_std(floor)
        table += (
            f"\nReal-vs-real floor of the same features: FID {fm:.2f} ± {fs:.2f} ({len(floor)} disjoint sets of "
            f"{cfg.fid_samples} training digits against the test-set reference). "
            f"{count(len(seeds), 'seed')} per loss, "
            f"{cfg.epochs} epochs each.\n"
        )
    write_text(assets / "results.md", table)
    sat = markdown_table(
        sat_rows,
        [
            ("loss", "loss"),
            ("early_d_fake", "D(G(z)), first fifth of epoch 1"),
            ("early_grad", "‖∇G‖, first fifth of epoch 1"),
            ("stalled", f"stalled epochs per seed (D(G(z)) < {STALL_D_FAKE})"),
        ],
    )
    mm = next(r for r in sat_rows if r["loss"] == "minimax")
    sat += (
        f"\nIn {mm['stalled_2']} of {len(seeds)} seeds minimax stayed saturated (mean D(G(z)) < {STALL_D_FAKE} "
        f"over the epoch) for at least 2 epochs. For LSGAN the score is D's raw output, so the stall test does "
        "not apply.\n"
    )
    write_text(assets / "saturation.md", sat)
    write_json(
        {
            "preset": "dry-run" if args.dry_run else args.preset,
            "config": dataclasses.asdict(cfg),
            "seeds": seeds,
            "floor": floor,
            "results": rows,
            "saturation": sat_rows,
            "per_epoch": {loss: {k: v for k, v in bands[loss].items()} for loss in LOSS_ORDER},
        },
        assets / "results.json",
    )
    print(table + "\n" + sat)
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("loss", "compile", "seed")}
    settings["seeds"] = len(seeds)
    precisions = sorted({r["precision"] for r in rows})
    settings["precision used"] = "/".join(precisions)
    seconds = sum(sum(r["seconds"] for r in recs) for recs in epochs.values())
    note = f"Training time of all {len(dirs)} runs together: {duration(seconds)}."
    if results["reused"]:
        note += f" Runs already complete from an earlier invocation (not retrained): {len(results['reused'])}."
    return settings, note


def _precision(run: Path) -> str:
    import json

    try:
        return json.loads((run / "config.json").read_text()).get("precision", "fp32")
    except (OSError, ValueError):
        return "?"


CHAPTER = Chapter(
    name="gan_losses",
    description="Chapter 1: train the report's DCGAN with three losses over several seeds and draw the comparison.",
    compute=compute,
    draw=draw,
    arguments=_arguments,
    assets=_assets,
)

main = CHAPTER.main


if __name__ == "__main__":
    raise SystemExit(main())
