"""Chapter 1: the same DCGAN trained with three losses (minimax, non-saturating, LSGAN).

Trains the report's 28x28 pair on MNIST once per loss with the same seed, then
writes into ``docs/assets/gan_losses/``: side-by-side loss curves, per-epoch
grids of one fixed latent batch and a GIF per loss, FID and mode coverage per
epoch, generator gradient norms, D's outputs, and a results table (Markdown
and JSON), with the exact command in ``command.md``.

    python -m companion.chapters.gan_losses --preset quick   # ~15 CPU minutes
    python -m companion.chapters.gan_losses --preset full    # the report's 20 epochs

Runs live in ``runs/gan_losses/<preset>/<loss>``; an interrupted chapter run
continues where it stopped when started again.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

from companion.artifacts import new_figure, read_jsonl, save_gif, write_json
from companion.chapters.common import chapter_parser, markdown_table, record_command
from companion.config import make_config
from companion.errors import CompanionError
from companion.experiment import run_training

__all__ = ["LOSS_ORDER", "main"]

LOSS_ORDER = ("minimax", "nonsaturating", "lsgan")
COLORS = {"minimax": "tab:red", "nonsaturating": "tab:blue", "lsgan": "tab:green"}


def _train_all(args, cfg) -> tuple[dict[str, Path], list[str]]:
    runs, reused = {}, []
    for loss in LOSS_ORDER:
        out = args.runs / ("dry" if args.dry_run else args.preset) / loss
        runs[loss] = out
        ck = out / "ckpt.pt"
        summary = out / "summary.json"
        if summary.is_file() and ck.is_file():
            import json

            if json.loads(summary.read_text()).get("epochs") == cfg.epochs:
                reused.append(loss)
                continue  # already complete: only the figures are redrawn
        run_training(
            dataclasses.replace(cfg, loss=loss),
            out,
            data_dir=args.data_dir,
            resume=ck.is_file(),
            overwrite=not ck.is_file(),
            explicit={"epochs"},
            progress=not args.no_progress,
        )
    return runs, reused


def _records(run: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rec = read_jsonl(run / "metrics.jsonl")
    return [r for r in rec if r["type"] == "step"], [r for r in rec if r["type"] == "epoch"]


def _smooth(v: list[float], w: int = 50) -> list[float]:
    from companion.train import _smooth as smooth

    return smooth(v, w)


def _figures(runs: dict[str, Path], assets: Path) -> list[dict[str, Any]]:
    data = {loss: _records(run) for loss, run in runs.items()}
    # 1. loss curves side by side
    fig, axes = new_figure(3, 1, 4.2, 3.2)
    for ax, loss in zip(axes[0], LOSS_ORDER):
        steps, _ = data[loss]
        x = [r["step"] for r in steps]
        ax.plot(x, _smooth([r["d_loss"] for r in steps]), label="D loss", color="black", lw=1.2)
        ax.plot(x, _smooth([r["g_loss"] for r in steps]), label="G loss", color=COLORS[loss], lw=1.2)
        ax.set_title(loss)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("loss (moving average, 50 steps)")
    fig.savefig(assets / "loss_curves.png", dpi=110)
    # 2. FID and mode coverage per epoch
    fig, axes = new_figure(2, 1, 4.6, 3.4)
    for loss in LOSS_ORDER:
        _, ep = data[loss]
        e = [r["epoch"] for r in ep]
        if ep and "fid" in ep[0]:
            axes[0][0].plot(e, [r["fid"] for r in ep], "o-", label=loss, color=COLORS[loss])
            axes[0][1].plot(e, [r["modes"] for r in ep], "o-", label=loss, color=COLORS[loss])
    axes[0][0].set(xlabel="epoch", ylabel="FID (classifier features, lower is better)", yscale="log")
    axes[0][1].set(xlabel="epoch", ylabel="digit classes covered (of 10)", ylim=(0, 10.5))
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(assets / "fid_modes.png", dpi=110)
    # 3. generator gradient norms and D's outputs
    fig, axes = new_figure(2, 1, 4.6, 3.4)
    for loss in LOSS_ORDER:
        steps, ep = data[loss]
        axes[0][0].plot(
            [r["step"] for r in steps],
            _smooth([r["g_grad_norm"] for r in steps]),
            label=loss,
            color=COLORS[loss],
            lw=1.2,
        )
        axes[0][1].plot(
            [r["epoch"] for r in ep], [r["d_real"] for r in ep], "o-", color=COLORS[loss], label=f"{loss}: real"
        )
        axes[0][1].plot(
            [r["epoch"] for r in ep], [r["d_fake"] for r in ep], "s--", color=COLORS[loss], label=f"{loss}: fake"
        )
    axes[0][0].set(xlabel="step", ylabel="||dL_G/dθ_G|| (moving average)", yscale="log")
    axes[0][1].set(xlabel="epoch", ylabel="mean D output (D(x) for BCE, raw for LSGAN)")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    axes[0][1].legend(fontsize=7)
    fig.savefig(assets / "grad_norms.png", dpi=110)
    # 4. grids, GIFs, and the early gradient numbers for the table
    rows = []
    for loss, run in runs.items():
        grids = sorted((run / "grids").glob("epoch_*.png"))
        target = assets / loss
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for g in grids:
            shutil.copy(g, target / g.name)
        save_gif(grids, assets / f"{loss}.gif")
        steps, ep = data[loss]
        last = ep[-1]
        early = steps[: max(1, len(steps) // len(ep) // 5)]  # first fifth of epoch 1
        rows.append(
            {
                "loss": loss,
                "epochs": last["epoch"],
                "final_fid": last.get("fid"),
                "best_fid": min((r["fid"] for r in ep if "fid" in r), default=None),
                "modes": last.get("modes"),
                "class_kl": last.get("class_kl"),
                "d_real": last["d_real"],
                "d_fake": last["d_fake"],
                "early_g_grad_norm": sum(r["g_grad_norm"] for r in early) / len(early),
                "minutes": sum(r["seconds"] for r in ep) / 60,
                "images_per_s": last["images_per_s"],
                "fid_per_epoch": [r.get("fid") for r in ep],
                "modes_per_epoch": [r.get("modes") for r in ep],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = chapter_parser("gan_losses", "Chapter 1: train the report's DCGAN with three losses and draw the comparison.")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        if args.dry_run:
            cfg = make_config(
                None, dataset="synthetic", epochs=2, batch_size=64, fid_samples=256, device=args.device, n_fixed=16
            )
        else:
            cfg = make_config(args.preset, dataset="mnist", device=args.device)
        args.assets.mkdir(parents=True, exist_ok=True)
        runs, reused = _train_all(args, cfg)
        rows = _figures(runs, args.assets)
    except CompanionError as exc:
        print(f"gan_losses: error: {exc}", file=__import__("sys").stderr)
        return 2
    write_json(
        {"preset": "dry-run" if args.dry_run else args.preset, "config": dataclasses.asdict(cfg), "results": rows},
        args.assets / "results.json",
    )
    table = markdown_table(
        rows,
        [
            ("loss", "loss"),
            ("epochs", "epochs"),
            ("final_fid", "final FID"),
            ("best_fid", "best FID"),
            ("modes", "classes covered"),
            ("class_kl", "KL(class hist ‖ uniform)"),
            ("d_real", "D(x)"),
            ("d_fake", "D(G(z))"),
            ("early_g_grad_norm", "early ‖∇G‖"),
            ("minutes", "train min"),
        ],
    )
    (args.assets / "results.md").write_text(table)
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("loss", "compile")}
    note = (
        (
            f"Runs reused from an earlier invocation (not retrained): {', '.join(reused)}; "
            "the table's train minutes are each run's own."
        )
        if reused
        else ""
    )
    record_command(args.assets, "gan_losses", argv, settings, time.perf_counter() - t0, note)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
