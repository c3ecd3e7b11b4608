"""Part II.2: the saturating minimax gradient, derived by SymPy and measured in real runs.

Writes into ``docs/assets/saturation/``: ``derivation.md`` (SymPy's LaTeX), ``gradients.png``
(|dL_G/da| against D(G(z)) for the three losses, SymPy curves and autograd dots),
``measured.png`` (generator gradient norms early in real minimax and non-saturating runs),
``results.md``/``results.json`` and ``command.md``.

    python -m companion.chapters.saturation            # reads chapter 1's runs if present
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from companion.artifacts import new_figure, read_jsonl, write_json
from companion.chapters.common import chapter_parser, markdown_table, record_command
from companion.losses import LOSSES
from companion.theory.saturation import derive, gradient_functions, latex_table

__all__ = ["main"]
COLORS = {"minimax": "tab:red", "nonsaturating": "tab:blue", "lsgan": "tab:green"}


def _autograd(name: str, a: np.ndarray) -> np.ndarray:
    t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    (LOSSES[name].generator(t) * len(a)).backward()
    return t.grad.numpy()


def _measured(runs: Path, args) -> dict[str, list[dict]]:
    """Per-step records of chapter 1's minimax and non-saturating runs (or a short synthetic run)."""
    out = {}
    for loss in ("minimax", "nonsaturating"):
        path = runs / loss / "metrics.jsonl"
        if not path.is_file():
            from companion.config import make_config
            from companion.experiment import run_training

            tmp = Path(args.runs) / "short" / loss
            cfg = make_config(
                None,
                dataset="synthetic" if args.dry_run else "mnist",
                loss=loss,
                epochs=1,
                train_subset=0 if args.dry_run else 12800,
                fid_samples=0,
                device=args.device,
            )
            run_training(cfg, tmp, data_dir=args.data_dir, overwrite=True, progress=not args.no_progress)
            path = tmp / "metrics.jsonl"
        out[loss] = [r for r in read_jsonl(path) if r["type"] == "step"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = chapter_parser("saturation", "Part II.2: the minimax generator's gradient vanishes; non-saturating does not.")
    p.add_argument(
        "--from-runs",
        type=Path,
        default=Path("runs") / "gan_losses" / "quick",
        help="chapter 1's run folder to read measured gradient norms from",
    )
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    args.assets.mkdir(parents=True, exist_ok=True)
    (args.assets / "derivation.md").write_text(latex_table(derive()))
    # |dL/da| against D(G(z)) = sigmoid(a)
    a = np.linspace(-12, 6, 400)
    dg = 1 / (1 + np.exp(-a))
    fig, axes = new_figure(1, 1, 5.5, 3.8)
    ax = axes[0, 0]
    fns = gradient_functions()
    dots = np.linspace(-12, 6, 19)
    for name in ("minimax", "nonsaturating", "lsgan"):
        ax.plot(dg, np.abs(fns[name](a)), color=COLORS[name], label=f"{name} (SymPy)")
        ax.plot(
            1 / (1 + np.exp(-dots)),
            np.abs(_autograd(name, dots)),
            "o",
            color=COLORS[name],
            ms=4,
            label=f"{name} (autograd)",
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
    fig.savefig(args.assets / "gradients.png", dpi=110)
    # measured
    meas = _measured(args.from_runs, args)
    fig, axes = new_figure(2, 1, 4.6, 3.4)
    rows = []
    for loss, steps in meas.items():
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
    fig.savefig(args.assets / "measured.png", dpi=110)
    d = derive()
    limits = {k: {"at_D_to_0": str(v.limit_at_zero), "at_D_to_1": str(v.limit_at_one)} for k, v in d.items()}
    write_json(
        {"limits": limits, "measured_first_100_steps": rows, "source": str(args.from_runs)},
        args.assets / "results.json",
    )
    table = markdown_table(
        rows, [("loss", "loss"), ("steps", "steps"), ("mean_g_grad_norm", "mean ‖∇G‖"), ("mean_d_fake", "mean D(G(z))")]
    )
    (args.assets / "results.md").write_text(table)
    record_command(args.assets, "saturation", argv, {"measured_from": str(args.from_runs)}, time.perf_counter() - t0)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
