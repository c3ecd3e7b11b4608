"""Part II.1: flows give exact log p(x); a GAN's or GLO's generator gives none.

Trains RealNVP, MAF and Glow flows (nflows) on two moons and a ring of Gaussians, and a
RealNVP on 8x8 MNIST; checks log p(x) three ways; times the triangular log-det against a
dense one; and shows that a generator from a lower-dimensional latent has a rank-deficient
Jacobian and a kernel density estimate that diverges. Writes into ``docs/assets/flows/``:
``densities.png``, ``cost.png``, ``mnist8.png``, ``generator.png``, ``results.md``/``.json``
and ``command.md``. A few CPU minutes.

    python -m companion.chapters.flows --from-runs runs/gan_losses/full
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from companion.artifacts import image_grid, new_figure, save_figure, write_json
from companion.chapters.common import Chapter, cached, content_key, markdown_table, write_text
from companion.theory.flows import (
    FLOW_KINDS,
    build_flow,
    curve_generator,
    grid_integral,
    jacobian_rank,
    kde_slope,
    log_prob_three_ways,
    logdet_cost,
    ring_of_gaussians,
    sample,
    train_flow,
    two_moons,
)

__all__ = ["CHAPTER", "main"]


def _mnist8(data_dir, split: str, dry: bool) -> torch.Tensor:
    from companion.data import load_dataset

    s = load_dataset("synthetic" if dry else "mnist", split, data_dir)
    x = F.adaptive_avg_pool2d(s.images.float() / 255, 8)  # (N, 1, 8, 8) in [0, 1]
    return (x * 255).round().flatten(1)  # 256 levels per pixel, dequantised at training time


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from-runs",
        type=Path,
        default=Path("runs") / "gan_losses" / "full",
        help="chapter 1's runs: the trained MNIST generator (nonsaturating/seed0) for the Jacobian-rank figure",
    )


def _generator(args: argparse.Namespace) -> tuple[torch.nn.Module, str, str]:
    """Chapter 1's trained non-saturating generator: the reader's run if present, else the book's; a dry run
    without the run takes a random one (said so)."""
    from companion.bookmodels import shipped
    from companion.encoder import generator_fingerprint

    ckpt = args.from_runs / "nonsaturating" / "seed0" / "ckpt.pt"
    if not ckpt.is_file() and not args.dry_run and shipped("gan-nonsaturating"):
        ckpt = "book:gan-nonsaturating"
    if str(ckpt).startswith("book:") or Path(ckpt).is_file():
        from companion.experiment import load_generator

        G, _, _ = load_generator(ckpt)
        name = "trained (chapter 1, non-saturating)"
    else:
        from companion.models import ArchSpec, build_generator

        torch.manual_seed(0)
        G, name = build_generator(ArchSpec("report28", 1, 100)), "randomly initialised"
    return G, name, generator_fingerprint(G)


def _compute_all(args: argparse.Namespace, G: torch.nn.Module, g_name: str) -> dict[str, Any]:
    warnings.filterwarnings("ignore", module="nflows")
    warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
    steps = 60 if args.dry_run else 3000
    torch.manual_seed(0)
    sets = {"two moons": two_moons(20000), "ring of 8 Gaussians": ring_of_gaussians(20000)}
    rows, flows, densities = [], {}, {}
    t = torch.linspace(-4, 4, 200, dtype=torch.float64)
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    grid = torch.stack([xx.flatten(), yy.flatten()], 1)
    for sname, data in sets.items():
        test = two_moons(2000, seed=9) if sname == "two moons" else ring_of_gaussians(2000, seed=9)
        for kind in FLOW_KINDS:
            torch.manual_seed(0)
            f = build_flow(kind, 2, layers=6, hidden=64)
            t1 = time.perf_counter()
            train_flow(f, data, steps=steps, batch=256, lr=2e-3)
            secs = time.perf_counter() - t1
            f = f.double().eval()
            flows[(sname, kind)] = f
            with torch.no_grad():
                nll = float(-f.log_prob(test.double()).mean())
                densities[f"{sname}|{kind}"] = f.log_prob(grid).exp().reshape(200, 200).float()
            check = torch.cat([test[:10].double(), 4 * torch.rand(10, 2, dtype=torch.float64) - 2])
            r = log_prob_three_ways(f, check)
            rows.append(
                {
                    "data": sname,
                    "flow": kind,
                    "test_nll": nll,
                    "rel_err_triangular": float(((r["triangular"] - r["nflows"]) / r["nflows"]).abs().max()),
                    "rel_err_dense": float(((r["dense"] - r["nflows"]) / r["nflows"]).abs().max()),
                    "off_triangle": float(r["off_triangle"]),
                    "lu_gap": float(r["lu_gap"]),
                    "integral": grid_integral(f, 8.0, 500),
                    "train_s": secs,
                }
            )
    dims = [2, 8, 32, 128, 512, 1024] if args.dry_run else [2, 8, 32, 128, 512, 1024, 2048, 4096]
    cost = logdet_cost(dims)
    # 8x8 MNIST
    train8, test8 = _mnist8(args.data_dir, "train", args.dry_run), _mnist8(args.data_dir, "test", args.dry_run)
    torch.manual_seed(0)
    f8 = build_flow("realnvp", 64, layers=8, hidden=128, logit_input=True)
    gen = torch.Generator().manual_seed(0)

    def dequant(x: torch.Tensor) -> torch.Tensor:
        return ((x + torch.rand(x.shape, generator=gen)) / 256).clamp(1e-4, 1 - 1e-4)

    steps8 = 40 if args.dry_run else 4000
    t1 = time.perf_counter()
    train_flow(f8, dequant(train8), steps=steps8, batch=256, lr=1e-3)
    secs8 = time.perf_counter() - t1
    f8 = f8.double().eval()
    with torch.no_grad():
        lp = f8.log_prob(dequant(test8[:2000]).double())
        bpd = float((-(lp.mean()) + 64 * math.log(256)) / (64 * math.log(2)))
        samples8 = sample(f8, 64, 64).float().clamp(0, 1).reshape(64, 1, 8, 8)
    r8 = log_prob_three_ways(f8, dequant(test8[:3]).double())
    # a generator has no density
    h = [0.2, 0.1, 0.05, 0.025]
    torch.manual_seed(0)
    on_curve = curve_generator(torch.randn(200_000, 1))
    x0 = curve_generator(torch.tensor([[0.3]]))[0]
    slope_gan, kde_gan = kde_slope(on_curve, x0, h)
    flow_samples = sample(flows[("two moons", "maf")], 200_000, 2).float()
    x_flow = two_moons(1, seed=3)[0]
    slope_flow, kde_flow = kde_slope(flow_samples.detach(), x_flow, h)
    rank, svals = jacobian_rank(G, torch.randn(100))
    return {
        "rows": rows,
        "data": {k: v[:20000].float() for k, v in sets.items()},
        "densities": densities,
        "cost": cost,
        "dims": dims,
        "steps": steps,
        "mnist8": {
            "bits_per_dim": bpd,
            "train_s": secs8,
            "steps": steps8,
            "rel_err_triangular": float(((r8["triangular"] - r8["nflows"]) / r8["nflows"]).abs().max()),
            "rel_err_dense": float(((r8["dense"] - r8["nflows"]) / r8["nflows"]).abs().max()),
        },
        "test8": test8[:64].reshape(64, 1, 8, 8) / 255,
        "samples8": samples8,
        "generator": {
            "kde_slope_on_curve": slope_gan,
            "kde_slope_flow": slope_flow,
            "bandwidths": h,
            "kde_on_curve": [float(v) for v in kde_gan],
            "kde_flow": [float(v) for v in kde_flow],
            "mnist_jacobian_rank": rank,
            "mnist_generator": g_name,
            "zero_eigenvalues_of_JJt": 784 - rank,
        },
        "on_curve": on_curve[:3000].float(),
        "x0": x0.float(),
        "svals": svals.detach().float(),
    }


def compute(args: argparse.Namespace) -> dict[str, Any]:
    G, g_name, fp = _generator(args)
    key = content_key(dry=args.dry_run, generator=fp, version=1)
    tag = args.runs / ("dry" if args.dry_run else "main")
    return cached(tag / "flows.pt", key, lambda: _compute_all(args, G, g_name))


def draw(res: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    assets, rows = args.assets, res["rows"]
    # densities
    fig, axes = new_figure(4, 2, 2.8, 2.8)
    for i, (sname, data) in enumerate(res["data"].items()):
        axes[i][0].hist2d(data[:, 0].numpy(), data[:, 1].numpy(), bins=120, range=[[-4, 4], [-4, 4]], cmap="magma")
        axes[i][0].set_title(f"{sname}: data", fontsize=9)
        for j, kind in enumerate(FLOW_KINDS):
            dens = res["densities"][f"{sname}|{kind}"]
            axes[i][j + 1].imshow(dens.T.numpy(), origin="lower", extent=(-4, 4, -4, 4), cmap="magma")
            axes[i][j + 1].set_title(f"{kind}: exact p(x)", fontsize=9)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    save_figure(fig, assets / "densities.png", dpi=100)
    # cost
    dims, cost = res["dims"], res["cost"]
    fig, axes = new_figure(1, 1, 5, 3.6)
    ax = axes[0, 0]
    ax.plot(dims, [c["triangular_s"] for c in cost], "o-", label="triangular: sum log|diag|  (O(D))")
    ax.plot(dims, [c["dense_s"] for c in cost], "s-", label="dense: slogdet (LU, O(D³))")
    ax.set(xscale="log", yscale="log", xlabel="dimension D", ylabel="seconds", title="cost of log|det J|")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_figure(fig, assets / "cost.png")
    # 8x8 MNIST
    bpd = res["mnist8"]["bits_per_dim"]
    fig, axes = new_figure(2, 1, 3.4, 3.4)
    axes[0][0].imshow(image_grid(res["test8"], padding=1), cmap="gray")
    axes[0][0].set_title("8x8 MNIST test digits", fontsize=9)
    axes[0][1].imshow(image_grid(res["samples8"], padding=1), cmap="gray")
    axes[0][1].set_title(f"RealNVP samples ({bpd:.2f} bits/dim)", fontsize=9)
    for ax in axes[0]:
        ax.axis("off")
    save_figure(fig, assets / "mnist8.png")
    # a generator has no density
    g = res["generator"]
    h = g["bandwidths"]
    fig, axes = new_figure(3, 1, 3.8, 3.4)
    on_curve = res["on_curve"]
    axes[0][0].scatter(on_curve[:, 0], on_curve[:, 1], s=1, alpha=0.4)
    axes[0][0].plot(*res["x0"].numpy(), "r*", ms=10)
    axes[0][0].set_title("G: R¹ → R², G(z) = (z, sin 2z)", fontsize=9)
    axes[0][1].loglog(
        h, g["kde_on_curve"], "o-", color="tab:red", label=f"on G's curve: slope {g['kde_slope_on_curve']:.2f}"
    )
    axes[0][1].loglog(h, g["kde_flow"], "s-", color="tab:blue", label=f"flow samples: slope {g['kde_slope_flow']:.2f}")
    axes[0][1].set(xlabel="bandwidth h", ylabel="KDE at a sample point", title="p_h(x) as h → 0")
    axes[0][1].set_xticks(h, [f"{v:g}" for v in h])
    axes[0][1].minorticks_off()
    axes[0][1].legend(fontsize=7)
    axes[0][2].semilogy(res["svals"].numpy(), ".")
    axes[0][2].set(
        xlabel="index", ylabel="singular value", title=f"MNIST G: 784x100 Jacobian,\nrank {g['mnist_jacobian_rank']}"
    )
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    save_figure(fig, assets / "generator.png")
    results = {"flows_2d": rows, "cost": cost, "mnist8": res["mnist8"], "generator": g}
    write_json(results, assets / "results.json")
    table = markdown_table(
        rows,
        [
            ("data", "data"),
            ("flow", "flow"),
            ("test_nll", "test NLL (nats)"),
            ("rel_err_triangular", "rel. err. triangular"),
            ("rel_err_dense", "rel. err. dense"),
            ("integral", "∫p dx on grid"),
        ],
    )
    write_text(assets / "results.md", table)
    print(table)
    print(
        f"8x8 MNIST RealNVP: {bpd:.3f} bits/dim; KDE slopes: generator {g['kde_slope_on_curve']:.2f}, flow "
        f"{g['kde_slope_flow']:.2f}; MNIST G Jacobian rank {g['mnist_jacobian_rank']}"
    )
    settings = {"steps_2d": res["steps"], "steps_mnist8": res["mnist8"]["steps"], "layers_2d": 6, "hidden": 64}
    return settings, f"Jacobian figure: the {g['mnist_generator']} MNIST generator."


CHAPTER = Chapter(
    name="flows",
    description="Part II.1: exact log p(x) with normalizing flows; why GANs and GLO have none.",
    compute=compute,
    draw=draw,
    arguments=_arguments,
)

main = CHAPTER.main


if __name__ == "__main__":
    raise SystemExit(main())
