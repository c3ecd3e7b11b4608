"""Chapter 4: how far a 28x28 GAN can go. The stabilisers the field adopted, measured one at a time.

Starts from the report's setup (chapter 1's non-saturating DCGAN) and adds one technique at a
time, each a switch on the same trainer, for ``--ablation-epochs`` epochs (default 4: the ablation's
CPU budget; chapter 1's runs give the baseline's first epochs exactly, the learning rate being
constant) over ``--seeds`` seeds (default 3); then trains the combination (``--preset better``) for
the report's full 20 epochs and compares it with the report's setup at 20 epochs and with the
real-vs-real floor of the same FID features. Writes into ``docs/assets/stabilisers/``, including
``prior.md``: chapters 2 and 3 with each generator, when their results exist (see ``PRIOR_COMMANDS``).

    python -m companion.chapters.stabilisers

Runs live in ``runs/stabilisers/<config>/seed<k>``; finished runs are reused, stopped ones resumed.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from companion.aggregate import band, count, mean_std, mean_std_text
from companion.artifacts import image_grid, new_figure, save_figure, write_json
from companion.chapters import gan_losses
from companion.chapters.common import REPO_ROOT, Chapter, duration, markdown_table, write_text
from companion.config import PRESETS, TrainConfig
from companion.runlog import RunLog

__all__ = ["ABLATION", "CHAPTER", "PRIOR_COMMANDS", "main", "paired_ema_text", "prior_table"]

# --8<-- [start:ablation]
#: One technique at a time on top of the report's setup (non-saturating loss, the report's pair).
ABLATION: dict[str, dict[str, Any]] = {
    "report setup": {},
    "+ hinge loss": {"loss": "hinge"},
    "+ spectral norm (D)": {"spectral_norm": True},
    "+ D without BatchNorm": {"arch": "report28-nobn"},
    "+ R1 penalty (γ = 1)": {"r1_gamma": 1.0},
    "+ two time-scales (G 1e-4, D 4e-4)": {"lr": 1e-4, "lr_d": 4e-4},
    "+ EMA of G (0.999)": {"ema": 0.999},
}
# --8<-- [end:ablation]
BETTER = "better (the combination)"
#: Fewer seeds than this give the table no "helps"/"hurts" verdict: there is no spread to compare with.
MIN_SEEDS_FOR_VERDICT = 3


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--ablation-epochs", type=int, default=4)
    p.add_argument(
        "--prior",
        type=Path,
        default=REPO_ROOT / "docs" / "assets" / "stabilisers" / "prior",
        help="where chapters 2 and 3 wrote their results with the combination's generator "
        "(inversion/ and restoration/; see the page for the commands)",
    )
    p.add_argument(
        "--chapter-runs",
        type=Path,
        default=Path("runs") / "gan_losses",
        help="chapter 1's runs: the report setup's runs are reused from there",
    )


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def configs(args: argparse.Namespace) -> dict[str, TrainConfig]:
    """Every configuration of the chapter: the ablation rows and the combination."""
    ns = argparse.Namespace(**{**vars(args), "preset": "full", "precision": "auto"})
    base = dataclasses.replace(gan_losses.chapter_config(ns), loss="nonsaturating")
    if not args.dry_run:
        base = dataclasses.replace(base, epochs=args.ablation_epochs)
    out = {name: dataclasses.replace(base, **sw) for name, sw in ABLATION.items()}
    better = {k: v for k, v in PRESETS["better"].items() if k not in ("epochs", "fid_samples")}
    out[BETTER] = dataclasses.replace(
        base, **better, epochs=base.epochs if args.dry_run else PRESETS["better"]["epochs"]
    )
    return out


def run_dir(args: argparse.Namespace, name: str, seed: int) -> Path:
    tag = "dry" if args.dry_run else "full"
    if name == "report setup":
        return args.chapter_runs / tag / "nonsaturating" / f"seed{seed}"
    return args.runs / tag / _slug(name) / f"seed{seed}"


def compute(args: argparse.Namespace) -> dict[str, Any]:
    if args.seeds <= 0:
        from companion.errors import ConfigError

        raise ConfigError(f"--seeds must be positive, got {args.seeds}")
    cfgs = configs(args)
    dirs: dict[tuple[str, int], Path] = {}
    for seed in range(args.seeds):
        for name, cfg in cfgs.items():
            out = run_dir(args, name, seed)
            cfg = dataclasses.replace(cfg, seed=seed)
            # The report setup comes from chapter 1 (20 epochs); its first epochs are the short run's.
            if name != "report setup" or len(RunLog(out / "metrics.jsonl").read("epoch")) < cfg.epochs:
                gan_losses.ensure_run(cfg, out, args, command="python -m companion.chapters.stabilisers")
            dirs[(name, seed)] = out
    base = cfgs["report setup"]
    # The floor of chapter 1's full preset (same data, features and sample count): share its cache.
    shared = args.chapter_runs / ("dry" if args.dry_run else "full")
    floor = gan_losses.fid_floor_cached(base, args, shared) if base.fid_samples else []
    return {"cfgs": cfgs, "dirs": dirs, "floor": floor, "seeds": list(range(args.seeds))}


#: Chapters 2 and 3 with the combination's generator (seed 0), beside their own runs with the report's.
PRIOR_COMMANDS = (
    "python -m companion.chapters.inversion --generator {g} --runs runs/stabilisers/prior/inversion "
    "--assets docs/assets/stabilisers/prior/inversion",
    "python -m companion.chapters.restoration --generator {g} --runs runs/stabilisers/prior/restoration "
    "--assets docs/assets/stabilisers/prior/restoration",
)


def prior_table(report: dict[str, Path], better: dict[str, Path]) -> str:
    """Chapters 2 and 3's results with the report's generator and with the combination's, side by side.

    Args:
        report: ``{"inversion": dir, "restoration": dir}``, the asset folders holding each chapter's
            ``results.json`` made with the report's generator.
        better: The same with the combination's generator.

    Returns:
        Markdown: one table for inversion (per method) and one for restoration (the GAN prior per
        task, with the best classical baseline of the task for scale), or a line saying what to run.
    """
    import json

    from companion.chapters.restoration import is_classical

    files = {(who, ch): d[ch] / "results.json" for who, d in (("report", report), ("better", better))
             for ch in ("inversion", "restoration")}  # fmt: skip
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        return f"Not computed yet: missing {', '.join(missing)}.\n"
    res = {k: json.loads(f.read_text()) for k, f in files.items()}
    for ch in ("inversion", "restoration"):
        if res[("report", ch)]["n_images"] != res[("better", ch)]["n_images"]:
            return f"Not comparable: the two {ch} runs used different numbers of digits.\n"
    inv = {who: {m["method"]: m for m in res[(who, "inversion")]["methods"]} for who in ("report", "better")}
    rows = []
    for name, a in inv["report"].items():
        b = inv["better"].get(name)
        if b is not None:
            rows.append({"method": name, "psnr_r": a["psnr"], "psnr_b": b["psnr"], "d": b["psnr"] - a["psnr"],
                         "acc_r": a["accuracy"], "acc_b": b["accuracy"]})  # fmt: skip
    t1 = markdown_table(
        rows,
        [("method", "inversion"), ("psnr_r", "PSNR dB, report G"), ("psnr_b", "PSNR dB, better G"),
         ("d", "Δ dB"), ("acc_r", "acc., report G"), ("acc_b", "acc., better G")],
    )  # fmt: skip
    rest = {
        who: {(r["task"], r["method"]): r for r in res[(who, "restoration")]["rows"]} for who in ("report", "better")
    }
    rows = []
    for (task, method), a in rest["report"].items():
        b = rest["better"].get((task, method))
        if method != "GAN prior" or b is None:
            continue
        classical = [r for (t, m), r in rest["report"].items() if t == task and is_classical(m)]
        best = max(classical, key=lambda r: r["psnr"])
        rows.append({"task": task, "psnr_r": a["psnr"], "psnr_b": b["psnr"], "d": b["psnr"] - a["psnr"],
                     "acc_r": a["accuracy"], "acc_b": b["accuracy"],
                     "classical": f"{best['psnr']:.3g} ({best['method'].split(' (')[0]})"})  # fmt: skip
    t2 = markdown_table(
        rows,
        [("task", "restoration"), ("psnr_r", "PSNR dB, report G"), ("psnr_b", "PSNR dB, better G"),
         ("d", "Δ dB"), ("acc_r", "acc., report G"), ("acc_b", "acc., better G"),
         ("classical", "best classical, dB")],
    )  # fmt: skip
    n = res[("report", "inversion")]["n_images"], res[("report", "restoration")]["n_images"]
    return (
        f"{t1}\nHeld-out test digits: {n[0]} (inversion), {n[1]} (restoration). Accuracy (acc.): the book's "
        "classifier recognises the input's digit in the result. Restoration rows: the GAN prior's result with "
        "each generator, and the task's best classical method (parameter tuned on validation digits) for scale.\n\n"
        + t2
    )


def _rows(names, logs, seeds, epochs_of) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        n = epochs_of(name)
        per = [logs[(name, s)][:n] for s in seeds]
        final, best = [recs[-1]["fid"] for recs in per], [min(r["fid"] for r in recs) for recs in per]
        fm, fs = mean_std(final)
        modes = [recs[-1]["modes"] for recs in per]
        rows.append(
            {
                "config": name,
                "epochs": n,
                "final_fid": mean_std_text(final, 2),
                "best_fid": mean_std_text(best, 2),
                "final_mean": fm,
                "final_std": fs,
                "per_seed": final,
                "modes": f"{min(modes)}–{max(modes)}" if min(modes) != max(modes) else str(modes[0]),
                "seconds_per_epoch": statistics.median(r["seconds"] for recs in per for r in recs),
                # With an EMA, the same runs' raw generator: a paired measurement of what the average adds.
                "raw_per_seed": (
                    [recs[-1]["fid_raw"] for recs in per] if all("fid_raw" in recs[-1] for recs in per) else None
                ),
            }
        )  # fmt: skip
    return rows


def paired_ema_text(row: dict[str, Any]) -> str:
    """One sentence: a row's FID with its EMA against the same runs' raw generator, seed by seed."""
    ema, raw = row["per_seed"], row["raw_per_seed"]
    diffs = [e - r for e, r in zip(ema, raw)]
    per = ", ".join(f"{d:+.2f}" for d in diffs)
    return (
        f"*{row['config']}*: without the average, the same runs' generator scores {mean_std_text(raw, 2)}; "
        f"the average changes FID by {mean_std_text(diffs, 2)} (per seed: {per}), a paired measurement "
        "(the same training and latents, with and without the average).\n"
    )


def draw(res: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    cfgs, dirs, seeds, floor = res["cfgs"], res["dirs"], res["seeds"], res["floor"]
    logs = {key: RunLog(d / "metrics.jsonl").read("epoch") for key, d in dirs.items()}  # each file read once
    assets = args.assets
    n_ab = cfgs["+ hinge loss"].epochs  # the ablation's budget
    floor_mean = mean_std(floor)[0] if floor else float("nan")
    # 1. The ablation at equal budget.
    # The combination's first epochs too: with a constant learning rate they are a short run of it.
    rows = _rows([*ABLATION, BETTER], logs, seeds, lambda name: n_ab)
    base_mean, base_std = rows[0]["final_mean"], rows[0]["final_std"]
    for r in rows:
        r["delta"] = r["final_mean"] - base_mean
        spread = max(r["final_std"], base_std)
        if r is rows[0]:
            r["verdict"] = "—"
        elif len(seeds) < MIN_SEEDS_FOR_VERDICT:  # no spread to compare with: an anecdote, not an effect
            r["verdict"] = f"no verdict ({count(len(seeds), 'seed')})"
        elif abs(r["delta"]) <= spread:
            r["verdict"] = "within the spread"
        else:
            r["verdict"] = "helps" if r["delta"] < 0 else "hurts"
    best = min(rows, key=lambda r: r["final_mean"])
    shown = [{**r, "final_fid": f"**{r['final_fid']}**"} if r is best else r for r in rows]
    table = markdown_table(
        shown,
        [
            ("config", "configuration"),
            ("final_fid", f"FID after {n_ab} epochs" + (" (mean ± std)" if len(seeds) > 1 else "")),
            ("delta", "Δ vs report setup"),
            *([("verdict", "effect")] if len(seeds) >= MIN_SEEDS_FOR_VERDICT else []),
            ("modes", "classes"),
            ("seconds_per_epoch", "s / epoch"),
        ],
    )
    table += (
        f"\n{count(len(seeds), 'seed')} per row; with at least {MIN_SEEDS_FOR_VERDICT} seeds "
        "a technique is said to help or hurt when its mean moves by more than the larger of the two standard "
        f"deviations. Real-vs-real floor: {floor_mean:.2f}.\n"
    )
    table += "".join("\n" + paired_ema_text(r) for r in rows if r["raw_per_seed"] is not None)
    if len(seeds) < MIN_SEEDS_FOR_VERDICT:
        table += (
            f"\n**Preliminary: {count(len(seeds), 'seed')} only.** The differences above are "
            "single measurements; chapter 1 shows seeds of one setting differing by several FID points.\n"
        )
    write_text(assets / "ablation.md", table)
    # 2. The combination at the report's budget against the report setup.
    full = _rows(["report setup", BETTER], logs, seeds, lambda name: cfgs[BETTER].epochs)
    for r in full:
        r["times_floor"] = r["final_mean"] / floor_mean if floor else None
    t2 = markdown_table(
        full,
        [
            ("config", "configuration"),
            ("final_fid", "final FID" + (" (mean ± std)" if len(seeds) > 1 else "")),
            ("best_fid", "best FID"),
            ("times_floor", "× floor"),
            ("modes", "classes"),
            ("seconds_per_epoch", "s / epoch"),
        ],
    )
    t2 += (
        f"\nBoth after {cfgs[BETTER].epochs} epochs. Real-vs-real floor of the same features: {floor_mean:.2f} "
        "(the target: at most 3 × the floor).\n"
    )
    t2 += "".join("\n" + paired_ema_text(r) for r in full if r["raw_per_seed"] is not None)
    write_text(assets / "better.md", t2)
    # 2b. Does a better prior restore better? Chapters 2 and 3 with each generator.
    docs_assets = REPO_ROOT / "docs" / "assets"
    g = run_dir(args, BETTER, seeds[0]) / "ckpt.pt"
    write_text(
        assets / "prior.md",
        "Not computed in a dry run (it compares the book's chapters 2 and 3).\n"
        if args.dry_run
        else prior_table(
            {"inversion": docs_assets / "inversion", "restoration": docs_assets / "restoration"},
            {"inversion": args.prior / "inversion", "restoration": args.prior / "restoration"},
        )
        + "\nThe better generator's results come from\n\n```bash\n"
        + "\n".join(c.format(g=g) for c in PRIOR_COMMANDS)
        + "\n```\n\n(the report's from chapters 2 and 3 as committed), this table from this chapter's command.\n",
    )
    # 3. FID per epoch for every configuration.
    fig, axes = new_figure(2, 1, 5.2, 3.8)
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    colours = matplotlib.colormaps["tab10"]
    for i, name in enumerate([*ABLATION, BETTER]):
        n = cfgs[name].epochs if name == BETTER else n_ab
        per = [[r["fid"] for r in logs[(name, s)][:n]] for s in seeds]
        b = band(per)
        # The report setup is the baseline of both panels: its first epochs on the left, all 20 on the right.
        ax = axes[0][1] if name == BETTER else axes[0][0]
        x = list(range(1, n + 1))
        colour = colours(9) if name == BETTER else colours(i)  # tab10's 7 is the floor line's grey
        ax.plot(x, b["mean"], color=colour, label=name, lw=1.4)
        ax.fill_between(x, b["min"], b["max"], color=colour, alpha=0.15, lw=0)
        if name == "report setup":  # also on the right panel, at the full budget
            per = [[r["fid"] for r in logs[(name, s)][: cfgs[BETTER].epochs]] for s in seeds]
            b = band(per)
            x = list(range(1, len(b["mean"]) + 1))
            axes[0][1].plot(x, b["mean"], color=colours(i), label=name, lw=1.4)
            axes[0][1].fill_between(x, b["min"], b["max"], color=colours(i), alpha=0.15, lw=0)
    for ax, title in zip(axes[0], (f"one technique at a time ({n_ab} epochs)", "the combination, 20 epochs")):
        if floor:
            ax.axhline(floor_mean, color="#7f7f7f", ls="--", lw=1, label="real vs real (floor)")
        ax.set(xlabel="epoch", ylabel="FID, classifier features", yscale="log", title=title)
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.legend(fontsize=7)
    # Above the floor line and left of the curves' ends, where the short runs leave room.
    axes[0][0].legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 0.07))
    save_figure(fig, assets / "fid.png")
    # 4. Samples: the report setup and the combination, side by side (seed 0, last epoch, same latents).
    fig, axes = new_figure(2, 1, 3.6, 3.9)
    for ax, name in zip(axes[0], ("report setup", BETTER)):
        run = dirs[(name, seeds[0])]
        last = sorted((run / "fixed").glob("epoch_*.npy"))[cfgs[BETTER].epochs - 1 if name == "report setup" else -1]
        ax.imshow(image_grid(np.load(last)[:36], nrow=6, padding=1), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{name}, epoch {int(last.stem.split('_')[-1])}", fontsize=9)
        ax.axis("off")
    save_figure(fig, assets / "samples.png", dpi=120)
    write_json(
        {
            "seeds": seeds,
            "floor": floor,
            "ablation": rows,
            "better": full,
            "configs": {k: dataclasses.asdict(v) for k, v in cfgs.items()},
        },
        assets / "results.json",
    )
    print(table + "\n" + t2)
    settings = {"seeds": len(seeds), "ablation_epochs": n_ab, "better": PRESETS["better"]}
    own = [key for key in dirs if key[0] != "report setup"]
    seconds = sum(r["seconds"] for key in own for r in logs[key])
    return settings, (
        f"Training time of this chapter's {len(own)} runs: {duration(seconds)} (the report setup's runs are "
        "chapter 1's, their first epochs for the ablation)."
    )


CHAPTER = Chapter(
    name="stabilisers",
    description="Chapter 4: modern GAN stabilisers on the report's 28x28 GAN, measured one at a time.",
    compute=compute,
    draw=draw,
    arguments=_arguments,
)
main = CHAPTER.main

if __name__ == "__main__":
    raise SystemExit(main())
