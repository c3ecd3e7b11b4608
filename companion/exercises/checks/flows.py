"""Part II.1, flows: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

import math
from types import ModuleType

import torch
from torch import nn

from companion.exercises.checks.common import close
from companion.exercises.registry import CheckFailed, Exercise

__all__ = ["EXERCISES"]


def check_coupling(m: ModuleType) -> None:
    torch.manual_seed(0)
    s_net, t_net = nn.Linear(4, 4).double(), nn.Linear(4, 4).double()
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    x = torch.randn(3, 4, dtype=torch.float64)
    y, logdet = m.coupling_forward(x, mask, s_net, t_net)
    close(y[:, mask.bool()], x[:, mask.bool()], "the masked half must pass unchanged")
    for i in range(3):
        J = torch.autograd.functional.jacobian(lambda v: m.coupling_forward(v[None], mask, s_net, t_net)[0][0], x[i])
        close(logdet[i], torch.linalg.slogdet(J)[1], f"log|det J| of row {i} against autograd's slogdet", rtol=1e-8)
    with torch.no_grad():
        back = m.coupling_inverse(y, mask, s_net, t_net)
    close(back, x, "coupling_inverse(coupling_forward(x)) must give x back", rtol=1e-9)


def check_affine_log_prob(m: ModuleType) -> None:
    x = torch.tensor([-1.0, 0.5, 3.0], dtype=torch.float64)
    for a, b in ((2.0, 0.5), (-0.5, 1.0)):  # a negative scale flips the axis; the density must not change sign
        loc, scale = torch.tensor(b, dtype=torch.float64), torch.tensor(abs(a), dtype=torch.float64)
        want = torch.distributions.Normal(loc, scale).log_prob(x)
        close(m.affine_log_prob(x, a, b), want, f"log p(x) of x = {a} z + {b}, z ~ N(0, 1)", rtol=1e-10)


def check_bits_per_dim(m: ModuleType) -> None:
    # A density of 1 on (0, 1)^D gives every grey level probability 1/256: exactly 8 bits per dimension.
    close(m.bits_per_dim(torch.zeros(3, dtype=torch.float64), 784), torch.full((3,), 8.0, dtype=torch.float64),
          "bits/dim of log p = 0 (the uniform density): log2 256 = 8")  # fmt: skip
    lp = torch.tensor([-500.0, 1000.0], dtype=torch.float64)
    want = -lp / (784 * math.log(2)) + 8
    close(m.bits_per_dim(lp, 784), want, "bits/dim = -ln p / (D ln 2) + 8 (nats to bits, per dimension, plus log2 256)")
    close(m.bits_per_dim(lp, 16), -lp / (16 * math.log(2)) + 8, "with D = 16 dimensions")


def check_actnorm(m: ModuleType) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 2, 4, generator=g, dtype=torch.float64)
    s, t = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    y, logdet = m.actnorm_forward(x, s, t)
    close(y, x * s.exp().view(1, 3, 1, 1) + t.view(1, 3, 1, 1), "y = exp(s_c) x + t_c, channel by channel")
    J = torch.autograd.functional.jacobian(lambda v: m.actnorm_forward(v[None], s, t)[0][0].flatten(), x[0])
    want = torch.linalg.slogdet(J.reshape(24, 24))[1]
    close(torch.as_tensor(logdet).double().flatten()[:1], want.reshape(1), "log|det J| against autograd's slogdet",
          rtol=1e-9)  # fmt: skip
    if torch.as_tensor(logdet).numel() != 2:
        raise CheckFailed("return one log-determinant per image: shape (B,)")


def check_squeeze(m: ModuleType) -> None:
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float64).view(2, 3, 4, 6)
    y = m.squeeze(x)
    close(torch.tensor(y.shape), torch.tensor([2, 12, 2, 3]), "squeeze of (2, 3, 4, 6) has shape (2, 12, 2, 3)")
    for c, i, j, h, w in ((0, 0, 0, 0, 0), (1, 0, 1, 1, 2), (2, 1, 0, 0, 1), (2, 1, 1, 1, 0)):
        close(y[1, 4 * c + 2 * i + j, h, w], x[1, c, 2 * h + i, 2 * w + j],
              f"y[b, 4c + 2i + j, h, w] = x[b, c, 2h + i, 2w + j] at c={c}, i={i}, j={j}, h={h}, w={w}")  # fmt: skip
    close(m.unsqueeze(y), x, "unsqueeze(squeeze(x)) must give x back")


EXERCISES: list[Exercise] = [
    Exercise(
        "flows",
        1,
        "An affine coupling layer: forward, inverse, log-det",
        ("coupling_forward", "coupling_inverse"),
        check_coupling,
    ),
    Exercise("flows", 2, "Change of variables in one dimension", ("affine_log_prob",), check_affine_log_prob),
    Exercise(
        "flows",
        3,
        "How fast does a KDE diverge on a surface?",
        task="Sample 200,000 points of G(z) = (z, sin 2z, cos 3z) with z in R (a curve in R^3) and compute the "
        "kernel density estimate at a sample point for bandwidths 0.2 .. 0.025 (companion.theory.flows.kde_slope)."
        " What slope do you expect in log h, and what do you measure?",
    ),
    Exercise("flows", 4, "Bits per dimension of dequantised images", ("bits_per_dim",), check_bits_per_dim),
    Exercise("flows", 5, "ActNorm and its log-determinant", ("actnorm_forward",), check_actnorm),
    Exercise("flows", 6, "The squeeze and its inverse", ("squeeze", "unsqueeze"), check_squeeze),
]
