"""Part II.1, flows: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

from types import ModuleType

import torch
from torch import nn

from companion.exercises.checks.common import close
from companion.exercises.registry import Exercise

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
]
