"""Part II.1: flows give exact log p(x); a GAN's or GLO's generator gives none.

Trains RealNVP, MAF and Glow flows (nflows) on two moons and a ring of Gaussians, and a
RealNVP on 8x8 MNIST; checks log p(x) three ways; times the triangular log-det against a
dense one; and shows that a generator from a lower-dimensional latent has a rank-deficient
Jacobian and a kernel density estimate that diverges. Writes into ``docs/assets/flows/``:
``densities.png``, ``cost.png``, ``mnist8.png``, ``generator.png``, ``results.md``/``.json``
and ``command.md``. A few CPU minutes.

    python -m companion.chapters.flows
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from companion.artifacts import new_figure, write_json
from companion.chapters.common import chapter_parser, markdown_table, record_command
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

__all__ = ["main"]


def _mnist8(data_dir, split: str, dry: bool) -> torch.Tensor:
    from companion.data import load_dataset

    s = load_dataset("synthetic" if dry else "mnist", split, data_dir)
    x = F.adaptive_avg_pool2d(s.images.float() / 255, 8)  # (N, 1, 8, 8) in [0, 1]
    return (x * 255).round().flatten(1)  # 256 levels per pixel, dequantised at training time


def main(argv: list[str] | None = None) -> int:
    p = chapter_parser("flows", "Part II.1: exact log p(x) with normalizing flows; why GANs and GLO have none.")
    p.add_argument(
        "--from-runs",
        type=Path,
        default=Path("runs") / "gan_losses" / "quick",
        help="chapter 1's runs: the trained MNIST generator for the Jacobian-rank figure",
    )
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", module="nflows")
    warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
    t0 = time.perf_counter()
    args.assets.mkdir(parents=True, exist_ok=True)
    steps = 60 if args.dry_run else 3000
    torch.manual_seed(0)
    sets = {"two moons": two_moons(20000), "ring of 8 Gaussians": ring_of_gaussians(20000)}
    rows, flows = [], {}
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
                    "integral": grid_integral(f, 8.0, 500),
                    "train_s": secs,
                }
            )
    # densities
    fig, axes = new_figure(4, 2, 2.8, 2.8)
    t = torch.linspace(-4, 4, 200, dtype=torch.float64)
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    grid = torch.stack([xx.flatten(), yy.flatten()], 1)
    for i, (sname, data) in enumerate(sets.items()):
        axes[i][0].hist2d(data[:, 0].numpy(), data[:, 1].numpy(), bins=120, range=[[-4, 4], [-4, 4]], cmap="magma")
        axes[i][0].set_title(f"{sname}: data", fontsize=9)
        for j, kind in enumerate(FLOW_KINDS):
            with torch.no_grad():
                dens = flows[(sname, kind)].log_prob(grid).exp().reshape(200, 200)
            axes[i][j + 1].imshow(dens.T.numpy(), origin="lower", extent=(-4, 4, -4, 4), cmap="magma")
            axes[i][j + 1].set_title(f"{kind}: exact p(x)", fontsize=9)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.savefig(args.assets / "densities.png", dpi=100)
    # cost
    dims = [2, 8, 32, 128, 512, 1024] if args.dry_run else [2, 8, 32, 128, 512, 1024, 2048, 4096]
    cost = logdet_cost(dims)
    fig, axes = new_figure(1, 1, 5, 3.6)
    ax = axes[0, 0]
    ax.plot(dims, [c["triangular_s"] for c in cost], "o-", label="triangular: sum log|diag|  (O(D))")
    ax.plot(dims, [c["dense_s"] for c in cost], "s-", label="dense: slogdet (LU, O(D³))")
    ax.set(xscale="log", yscale="log", xlabel="dimension D", ylabel="seconds", title="cost of log|det J|")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.savefig(args.assets / "cost.png", dpi=110)
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
        samples = sample(f8, 64, 64).float().clamp(0, 1).reshape(64, 1, 8, 8)
    r8 = log_prob_three_ways(f8, dequant(test8[:3]).double())
    fig, axes = new_figure(2, 1, 3.4, 3.4)
    from companion.artifacts import image_grid

    axes[0][0].imshow(image_grid(test8[:64].reshape(64, 1, 8, 8) / 255, padding=1), cmap="gray")
    axes[0][0].set_title("8x8 MNIST test digits", fontsize=9)
    axes[0][1].imshow(image_grid(samples, padding=1), cmap="gray")
    axes[0][1].set_title(f"RealNVP samples ({bpd:.2f} bits/dim)", fontsize=9)
    for ax in axes[0]:
        ax.axis("off")
    fig.savefig(args.assets / "mnist8.png", dpi=110)
    # a generator has no density
    h = [0.2, 0.1, 0.05, 0.025]
    torch.manual_seed(0)
    on_curve = curve_generator(torch.randn(200_000, 1))
    x0 = curve_generator(torch.tensor([[0.3]]))[0]
    slope_gan, kde_gan = kde_slope(on_curve, x0, h)
    flow_samples = sample(flows[("two moons", "maf")], 200_000, 2).float()
    x_flow = two_moons(1, seed=3)[0]
    slope_flow, kde_flow = kde_slope(flow_samples.detach(), x_flow, h)
    ckpt = args.from_runs / "nonsaturating" / "ckpt.pt"
    if ckpt.is_file():
        from companion.experiment import load_generator

        G, _, _ = load_generator(ckpt)
        g_name = "trained (chapter 1, non-saturating)"
    else:
        from companion.models import ArchSpec, build_generator

        G, g_name = build_generator(ArchSpec("report28", 1, 100)), "randomly initialised"
    rank, svals = jacobian_rank(G, torch.randn(100))
    fig, axes = new_figure(3, 1, 3.6, 3.2)
    axes[0][0].scatter(on_curve[:3000, 0], on_curve[:3000, 1], s=1, alpha=0.4)
    axes[0][0].plot(*x0.numpy(), "r*", ms=10)
    axes[0][0].set_title("G: R¹ → R², G(z) = (z, sin 2z)", fontsize=9)
    axes[0][1].loglog(h, kde_gan, "o-", color="tab:red", label=f"on G's curve: slope {slope_gan:.2f}")
    axes[0][1].loglog(h, kde_flow, "s-", color="tab:blue", label=f"flow samples: slope {slope_flow:.2f}")
    axes[0][1].set(xlabel="bandwidth h", ylabel="KDE at a sample point", title="p_h(x) as h → 0")
    axes[0][1].legend(fontsize=7)
    axes[0][2].semilogy(svals.detach().numpy(), ".")
    axes[0][2].set(
        xlabel="index",
        ylabel="singular value",
        title=f"MNIST G: 784x100 Jacobian, rank {rank}",
    )
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    fig.savefig(args.assets / "generator.png", dpi=110)
    results = {
        "flows_2d": rows,
        "cost": cost,
        "mnist8": {
            "bits_per_dim": bpd,
            "train_s": secs8,
            "steps": steps8,
            "rel_err_triangular": float(((r8["triangular"] - r8["nflows"]) / r8["nflows"]).abs().max()),
            "rel_err_dense": float(((r8["dense"] - r8["nflows"]) / r8["nflows"]).abs().max()),
        },
        "generator": {
            "kde_slope_on_curve": slope_gan,
            "kde_slope_flow": slope_flow,
            "bandwidths": h,
            "mnist_jacobian_rank": rank,
            "mnist_generator": g_name,
            "zero_eigenvalues_of_JJt": 784 - rank,
        },
    }
    write_json(results, args.assets / "results.json")
    table = markdown_table(
        rows,
        [
            ("data", "data"),
            ("flow", "flow"),
            ("test_nll", "test NLL (nats)"),
            ("rel_err_triangular", "rel. err. triangular"),
            ("rel_err_dense", "rel. err. dense"),
            ("off_triangle", "max off-triangle"),
            ("integral", "∫p dx on grid"),
            ("train_s", "train s"),
        ],
    )
    (args.assets / "results.md").write_text(table)
    record_command(
        args.assets,
        "flows",
        argv,
        {"steps_2d": steps, "steps_mnist8": steps8, "layers_2d": 6, "hidden": 64},
        time.perf_counter() - t0,
    )
    print(table)
    print(
        f"8x8 MNIST RealNVP: {bpd:.3f} bits/dim; KDE slopes: generator {slope_gan:.2f}, flow {slope_flow:.2f}; "
        f"MNIST G Jacobian rank {rank}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
