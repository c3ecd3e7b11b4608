r"""Normalizing flows give exact log p(x); a GAN or GLO generator gives none.

A flow is an invertible map $f = f_K \circ \dots \circ f_1$ from data to a base variable
$z = f(x) \sim \mathcal N(0, I)$. By the change of variables,

$$
\log p(x) = \log \mathcal N(f(x); 0, I) + \sum_{k=1}^{K} \log \left|\det J_{f_k}(x_{k-1})\right|,
$$

and each layer is built so that its log-determinant is cheap. Coupling, autoregressive and
ActNorm layers have a triangular Jacobian (after a fixed reordering of coordinates), so the
determinant is the product of the diagonal, $O(D)$ instead of the $O(D^3)$ of a dense
determinant. Glow's invertible linear layer is different: its Jacobian is the dense matrix
$W = LU$, and its determinant is cheap because it is *stored* factored, with $L$ unit lower
triangular: $\log|\det W| = \sum_i \log|U_{ii}|$.

This module builds three flows with `nflows` (RealNVP's affine coupling, Dinh et al. 2017;
MAF, Papamakarios et al. 2017; a Glow step with ActNorm, an LU-factored linear map and affine
coupling, Kingma & Dhariwal 2018). nflows' affine coupling scales by
$\mathrm{sigmoid}(s + 2) + 10^{-3}$, not $e^{s}$: $y_B = x_B \odot (\sigma(s(x_A) + 2) + 10^{-3}) + t(x_A)$,
a bounded, positive scale. $\log p(x)$ is computed three ways: nflows' own `log_prob`; each
layer's structural log-determinant from its explicit autograd Jacobian (sum of log-diagonals in
triangular order; for LU layers $\sum \log|U_{ii}|$, checked against `slogdet` of the autograd
Jacobian); and $\log\mathcal N$ plus `slogdet` of the whole flow's autograd Jacobian.

A generator $G: \mathbb R^d \to \mathbb R^D$ with $d < D$ (a GAN's, or GLO's decoder) cannot give a
density in $\mathbb R^D$: its Jacobian has rank at most $d$, its samples lie on a $d$-dimensional
set of Lebesgue measure zero, and a kernel density estimate at a sample point diverges like
$h^{-(D-d)}$ as the bandwidth $h \to 0$. If G is injective, its samples do have a density
*on the surface* $G(\mathbb R^d)$, $p(G(z)) = p_z(z)\,\det(J^\top J)^{-1/2}$ with the $d \times d$
matrix $J^\top J$; but that is a density with respect to the surface's area, not a $p(x)$ that
could be compared with a flow's or evaluated at an image off the surface.

nflows 0.14 and current PyTorch: `NaiveLinear` (and `torchutils.random_orthogonal`) call
the removed `torch.qr` and crash at construction; `OneByOneConvolution` needs 4-D image
input; `BatchNorm` has no inverse in training mode. This module uses only the parts the tests
pin: `AffineCouplingTransform`, `MaskedAffineAutoregressiveTransform`, `ActNorm`,
`LULinear`, `ReversePermutation`, `Logit` and `StandardNormal`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "FLOW_KINDS",
    "LayerJacobian",
    "build_flow",
    "curve_generator",
    "grid_integral",
    "jacobian_rank",
    "kde_at",
    "kde_slope",
    "layer_jacobians",
    "log_prob_three_ways",
    "logdet_cost",
    "off_triangle",
    "ring_of_gaussians",
    "train_flow",
    "two_moons",
]

FLOW_KINDS = ("realnvp", "maf", "glow")


def two_moons(n: int, seed: int = 0, noise: float = 0.08) -> Tensor:
    """Two interleaved half circles, centred and scaled to unit-ish spread. (n, 2) float32."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    pts = torch.stack([x - 0.5, y - 0.25], 1) * 1.6
    return pts + noise * torch.randn(n, 2, generator=g)


def ring_of_gaussians(n: int, k: int = 8, radius: float = 2.0, std: float = 0.15, seed: int = 0) -> Tensor:
    """k Gaussians evenly spaced on a circle. (n, 2) float32."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, k, (n,), generator=g)
    ang = idx.float() * (2 * math.pi / k)
    centres = torch.stack([torch.cos(ang), torch.sin(ang)], 1) * radius
    return centres + std * torch.randn(n, 2, generator=g)


# --8<-- [start:build]
def build_flow(kind: str, dim: int, *, layers: int = 4, hidden: int = 64, logit_input: bool = False) -> nn.Module:
    """A normalizing flow from nflows' working parts.

    Args:
        kind: ``realnvp`` (alternating affine couplings), ``maf`` (masked autoregressive
            layers with reversals) or ``glow`` (ActNorm -> LU linear -> affine coupling).
        dim: Data dimension D.
        layers: Number of blocks.
        hidden: Width of the conditioner networks.
        logit_input: Start with an elementwise logit, for data in (0, 1) such as pixels.

    Returns:
        An ``nflows.flows.Flow`` with a standard normal base; ``log_prob(x)`` takes (N, D).
    """
    from nflows import distributions, flows, transforms
    from nflows.nn import nets

    if kind not in FLOW_KINDS:
        raise ValueError(f"unknown flow '{kind}'; choose from {', '.join(FLOW_KINDS)}")

    def mlp(n_in: int, n_out: int) -> nn.Module:
        return nets.ResidualNet(n_in, n_out, hidden_features=hidden, num_blocks=2)

    def mask(i: int) -> Tensor:
        m = torch.arange(dim) % 2 == i % 2
        return m.to(torch.int64)

    steps: list[nn.Module] = [transforms.Logit()] if logit_input else []
    for i in range(layers):
        if kind == "realnvp":
            steps.append(transforms.AffineCouplingTransform(mask(i), mlp))
        elif kind == "maf":
            steps += [transforms.MaskedAffineAutoregressiveTransform(dim, hidden), transforms.ReversePermutation(dim)]
        else:
            steps += [
                transforms.ActNorm(dim),
                transforms.LULinear(dim, identity_init=True),
                transforms.AffineCouplingTransform(mask(i), mlp),
            ]
    return flows.Flow(transforms.CompositeTransform(steps), distributions.StandardNormal([dim]))


# --8<-- [end:build]


@torch.no_grad()
def sample(flow, n: int, dim: int, seed: int = 0) -> Tensor:
    """n samples x = f^{-1}(z), z ~ N(0, I), in the flow's own dtype (nflows' ``sample`` draws float32 only)."""
    dtype = next(flow.parameters()).dtype
    z = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return flow._transform.inverse(z)[0]


def train_flow(
    flow: nn.Module, data: Tensor, *, steps: int = 1000, batch: int = 256, lr: float = 1e-3, seed: int = 0
) -> list[float]:
    """Maximum likelihood with Adam; returns the mean negative log-likelihood per step."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(flow.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    flow.train()
    for _ in range(steps):
        idx = torch.randint(0, data.shape[0], (batch,), generator=g)
        loss = -flow.log_prob(data[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@dataclass
class LayerJacobian:
    """One layer's Jacobian at one input, and its log-determinant the way the layer computes it.

    Attributes:
        name: The nflows class.
        structure: ``triangular`` (coupling, autoregressive, ActNorm, Logit: lower triangular after
            reordering the coordinates), ``permutation`` (a reordering, determinant ±1) or ``lu``
            (``LULinear``: the Jacobian is the dense matrix W = L U).
        jacobian: (D, D) float64, d out / d in, by autograd.
        order: The coordinate order in which a triangular Jacobian is lower triangular.
        off_triangle: Largest |entry| above the diagonal after reordering (0.0 means exactly
            triangular); None for LU layers, whose Jacobian is dense.
        logdet: log |det J| from the structure: the sum of log |diagonal| in triangular order;
            0 for a permutation; for LU, sum_i log |U_ii| (L is unit lower triangular).
    """

    name: str
    structure: str
    jacobian: Tensor
    order: Tensor
    off_triangle: float | None
    logdet: float


def off_triangle(matrix: Tensor) -> float:
    """Largest |entry| strictly above the diagonal: 0.0 exactly when ``matrix`` is lower triangular."""
    return float(torch.triu(matrix, 1).abs().max()) if matrix.shape[0] > 1 else 0.0


def _jacobian(layer: nn.Module, x: Tensor) -> Tensor:
    return torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x)


def layer_jacobians(flow, x: Tensor) -> tuple[list[LayerJacobian], Tensor]:
    """Walk one input x (D,) through the flow layer by layer (eval mode, float64).

    Triangular layers: the autograd Jacobian is put in the layer's order (for a coupling layer
    the identity features first, J = [[I, 0], [*, diag(scale)]]) and its log-determinant is the
    sum of log |diagonal|. LU layers: the Jacobian is the dense W = L U; the layer's own formula
    sum_i log |U_ii| is read from its U factor, and `log_prob_three_ways` checks it against
    slogdet of the autograd Jacobian (an independent computation).

    Returns:
        The per-layer Jacobians and z = f(x).
    """
    from nflows import transforms

    out = []
    cur = x
    for layer in flow._transform._transforms:
        J = _jacobian(layer, cur)
        dim = J.shape[0]
        order = torch.arange(dim)
        if isinstance(layer, transforms.LULinear):
            _, upper = layer._create_lower_upper()
            logdet = float(torch.diagonal(upper.detach()).abs().log().sum())
            out.append(LayerJacobian(type(layer).__name__, "lu", J, order, None, logdet))
        elif isinstance(layer, transforms.ReversePermutation):
            order = torch.argmax(J, dim=1)  # row i reads input order[i]
            out.append(LayerJacobian(type(layer).__name__, "permutation", J, order, off_triangle(J[:, order]), 0.0))
        else:
            if isinstance(layer, transforms.AffineCouplingTransform):
                order = torch.cat([layer.identity_features, layer.transform_features])
            m = J[order][:, order]
            logdet = float(torch.diagonal(m).abs().log().sum())
            out.append(LayerJacobian(type(layer).__name__, "triangular", J, order, off_triangle(m), logdet))
        cur = layer(cur[None])[0][0].detach()
    return out, cur


def log_prob_three_ways(flow, x: Tensor) -> dict[str, Tensor]:
    """log p(x) for each row of x (N, D), float64, three ways.

    Returns:
        ``nflows``: ``flow.log_prob``; ``triangular``: log N(f(x)) plus each layer's structural
        log-determinant (`LayerJacobian.logdet`); ``dense``: log N(f(x)) + slogdet of the whole
        flow's autograd Jacobian; ``off_triangle``: the largest above-diagonal entry met in any
        triangular or permutation layer (exactly 0 when they are what they claim);
        ``lu_gap``: the largest |sum log|U_ii| - slogdet(W)| over LU layers (0 without any).
    """
    flow = flow.double().eval()
    x = x.double()
    with torch.no_grad():
        lp = flow.log_prob(x)
    tri, dense, off, lu_gap = [], [], 0.0, 0.0
    base = flow._distribution
    for row in x:
        layers, z = layer_jacobians(flow, row)
        log_base = base.log_prob(z[None])[0]
        tri.append(log_base + sum(layer.logdet for layer in layers))
        off = max([off, *(layer.off_triangle for layer in layers if layer.off_triangle is not None)])
        for layer in layers:
            if layer.structure == "lu":
                lu_gap = max(lu_gap, abs(layer.logdet - float(torch.linalg.slogdet(layer.jacobian)[1])))
        J = torch.autograd.functional.jacobian(lambda v: flow._transform(v[None])[0][0], row)
        dense.append(log_base + torch.linalg.slogdet(J)[1])
    return {
        "nflows": lp,
        "triangular": torch.stack(tri),
        "dense": torch.stack(dense),
        "off_triangle": torch.tensor(off),
        "lu_gap": torch.tensor(lu_gap),
    }


@torch.no_grad()
def grid_integral(flow, lim: float = 6.0, n: int = 600) -> float:
    """Riemann sum of exp(log p) over [-lim, lim]^2 on an n x n grid (should be 1 for a density)."""
    flow = flow.double().eval()
    t = torch.linspace(-lim, lim, n, dtype=torch.float64)
    h = float(t[1] - t[0])
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    dens = torch.cat([flow.log_prob(chunk).exp() for chunk in pts.split(20000)])
    return float(dens.sum() * h * h)


def logdet_cost(dims: list[int], repeats: int = 3, seed: int = 0) -> list[dict[str, float]]:
    """Seconds to get log|det J| for a D x D lower-triangular Jacobian: from its diagonal, or by dense slogdet.

    The triangular cost grows like D, the dense one like D^3 (LU factorisation).
    """
    g = torch.Generator().manual_seed(seed)
    rows = []
    for d in dims:
        J = torch.tril(torch.randn(d, d, generator=g, dtype=torch.float64)) + d * torch.eye(d, dtype=torch.float64)
        t_tri = t_dense = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            a = torch.diagonal(J).abs().log().sum()
            t_tri = min(t_tri, time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = torch.linalg.slogdet(J)[1]
            t_dense = min(t_dense, time.perf_counter() - t0)
        rows.append({"dim": d, "triangular_s": t_tri, "dense_s": t_dense, "agree": float((a - b).abs())})
    return rows


# --8<-- [start:generator]
def curve_generator(z: Tensor) -> Tensor:
    """A 'GAN' from R^1 to R^2: G(z) = (z, sin 2z). z: (N, 1) -> (N, 2) on a curve."""
    z = z.reshape(-1, 1)
    return torch.cat([z, torch.sin(2 * z)], 1)


def kde_at(samples: Tensor, x0: Tensor, h: float) -> float:
    """Gaussian kernel density estimate at x0 from samples (N, D) with bandwidth h."""
    d = samples.shape[1]
    sq = (samples - x0).square().sum(1)
    return float(torch.exp(-sq / (2 * h * h)).mean() / (2 * math.pi * h * h) ** (d / 2))


def kde_slope(samples: Tensor, x0: Tensor, bandwidths: list[float]) -> tuple[float, list[float]]:
    """Slope of log KDE(x0) against log h: about -(D - d) on a d-dim support in R^D, about 0 for a true density."""
    values = [kde_at(samples, x0, h) for h in bandwidths]
    lx = torch.tensor([math.log(h) for h in bandwidths], dtype=torch.float64)
    ly = torch.tensor([math.log(v) for v in values], dtype=torch.float64)
    slope = float(((lx - lx.mean()) * (ly - ly.mean())).sum() / (lx - lx.mean()).square().sum())
    return slope, values


def jacobian_rank(generator: nn.Module, z: Tensor, rtol: float = 1e-6) -> tuple[int, Tensor]:
    """Numerical rank of G's Jacobian at one latent z (d,), and its singular values (D x d matrix).

    A singular value counts when it exceeds ``rtol`` times the largest. For G: R^d -> R^D the
    rank is at most d, so J J^T (D x D) has at least D - d zero eigenvalues: no density in R^D.
    Rank exactly d means G is locally injective, with a density on its d-dimensional surface only.
    """
    generator = generator.double().eval()
    J = torch.autograd.functional.jacobian(lambda v: generator(v[None]).flatten(), z.double())
    s = torch.linalg.svdvals(J)
    return int((s > rtol * s.max()).sum()), s


# --8<-- [end:generator]
