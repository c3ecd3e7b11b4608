"""Part II.2: the saturating minimax gradient, derived by SymPy and measured in real runs.

Writes into ``docs/assets/saturation/``: ``derivation.md`` (SymPy's LaTeX), ``gradients.png``
(|dL_G/da| against D(G(z)) for the three losses, SymPy curves and autograd dots),
``measured.png`` (generator gradient norms early in real minimax and non-saturating runs),
``results.md``/``results.json`` and ``command.md``.

    python -m companion.chapters.saturation --from-runs runs/gan_losses/full   # reads chapter 1's runs
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from companion.artifacts import new_figure, save_figure, write_json
from companion.chapters.common import Chapter, markdown_table, write_text
from companion.losses import LOSSES
from companion.runlog import RunLog
from companion.theory.saturation import derive, gradient_functions, latex_table

__all__ = ["CHAPTER", "main"]
COLORS = {"minimax": "tab:red", "nonsaturating": "tab:blue", "lsgan": "tab:green"}


def _autograd(name: str, a: np.ndarray) -> np.ndarray:
    t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    (LOSSES[name].generator(t) * len(a)).backward()
    return t.grad.numpy()


def _measured(runs: Path, args) -> dict[str, list[dict]]:
    """Per-step records of chapter 1's minimax and non-saturating runs (seed 0), or of a short run here."""
    out = {}
    for loss in ("minimax", "nonsaturating"):
        path = runs / loss / "seed0" / "metrics.jsonl"
        if args.dry_run or not path.is_file():
            from companion.config import make_config
            from companion.experiment import run_training
            from companion.rundir import is_run

            tmp = Path(args.runs) / ("dry" if args.dry_run else "short") / loss
            cfg = make_config(
                None,
                dataset="synthetic" if args.dry_run else "mnist",
                loss=loss,
                epochs=1,
                train_subset=0 if args.dry_run else 12800,
                fid_samples=0,
                device=args.device,
            )
            run_training(
                cfg, tmp, data_dir=args.data_dir, overwrite=is_run(tmp), progress=not args.no_progress, render=False
            )
            path = tmp / "metrics.jsonl"
        out[loss] = RunLog(path).read("step")
    return out


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from-runs",
        type=Path,
        default=Path("runs") / "gan_losses" / "full",
        help="chapter 1's runs folder to read measured gradient norms from (<loss>/seed0)",
    )


def compute(args: argparse.Namespace) -> dict[str, Any]:
    a = np.linspace(-12, 6, 400)
    dots = np.linspace(-12, 6, 19)
    fns = gradient_functions()
    curves = {name: np.abs(fns[name](a)) for name in COLORS}
    autograd = {name: np.abs(_autograd(name, dots)) for name in COLORS}
    return {
        "derivation": derive(),
        "a": a,
        "dots": dots,
        "curves": curves,
        "autograd": autograd,
        "measured": _measured(args.from_runs, args),
    }


def draw(res: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    d = res["derivation"]
    write_text(args.assets / "derivation.md", latex_table(d))
    # |dL/da| against D(G(z)) = sigmoid(a)
    a, dots = res["a"], res["dots"]
    fig, axes = new_figure(1, 1, 5.5, 3.8)
    ax = axes[0, 0]
    for name in COLORS:
        ax.plot(1 / (1 + np.exp(-a)), res["curves"][name], color=COLORS[name], label=f"{name} (SymPy)")
        ax.plot(
            1 / (1 + np.exp(-dots)), res["autograd"][name], "o", color=COLORS[name], ms=4, label=f"{name} (autograd)"
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="D(G(z))",
        ylabel="|∂L_G/∂a|",
        title="Generator gradient w.r.t. the discriminator's logit",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    save_figure(fig, args.assets / "gradients.png")
    fig, axes = new_figure(2, 1, 4.6, 3.4)
    rows = []
    for loss, steps in res["measured"].items():
        n = min(300, len(steps))
        x = [r["step"] for r in steps[:n]]
        axes[0][0].plot(x, [r["g_grad_norm"] for r in steps[:n]], color=COLORS[loss], label=loss, lw=1)
        axes[0][1].plot(x, [r["d_fake"] for r in steps[:n]], color=COLORS[loss], label=loss, lw=1)
        early = steps[: min(100, len(steps))]
        rows.append(
            {
                "loss": loss,
                "steps": len(early),
                "mean_g_grad_norm": sum(r["g_grad_norm"] for r in early) / len(early),
                "mean_d_fake": sum(r["d_fake"] for r in early) / len(early),
            }
        )
    axes[0][0].set(xlabel="step", ylabel="‖∇θ L_G‖", yscale="log", title="generator gradient norm")
    axes[0][1].set(xlabel="step", ylabel="D(G(z))", yscale="log", title="discriminator on fakes")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, args.assets / "measured.png")
    limits = {
        k: {
            "rejected": {"where": v.rejected.where, "gradient": str(v.rejected.value)},
            "fooled": {"where": v.fooled.where, "gradient": str(v.fooled.value)},
        }
        for k, v in d.items()
    }
    write_json(
        {"limits": limits, "measured_first_100_steps": rows, "source": str(args.from_runs)},
        args.assets / "results.json",
    )
    table = markdown_table(
        rows, [("loss", "loss"), ("steps", "steps"), ("mean_g_grad_norm", "mean ‖∇G‖"), ("mean_d_fake", "mean D(G(z))")]
    )
    write_text(args.assets / "results.md", table)
    print(table)
    return {"measured_from": str(args.from_runs)}, ""


CHAPTER = Chapter(
    name="saturation",
    description="Part II.2: the minimax generator's gradient vanishes; non-saturating does not.",
    compute=compute,
    draw=draw,
    arguments=_arguments,
)

main = CHAPTER.main


if __name__ == "__main__":
    raise SystemExit(main())
