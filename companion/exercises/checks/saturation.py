"""Part II.2, saturation: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

import math
from types import ModuleType

import torch

from companion.exercises.checks.common import close
from companion.exercises.registry import CheckFailed, Exercise

__all__ = ["EXERCISES"]


def check_generator_gradients(m: ModuleType) -> None:
    import sympy as sp

    a = sp.Symbol("a", real=True)
    mm, ns = m.generator_gradients(a)
    sig = 1 / (1 + sp.exp(-a))
    if sp.simplify(mm + sig) != 0:
        raise CheckFailed(f"minimax: expected -sigma(a) = -1/(1 + exp(-a)), got {sp.simplify(mm)}")
    if sp.simplify(ns + 1 - sig) != 0:
        raise CheckFailed(f"non-saturating: expected -(1 - sigma(a)), got {sp.simplify(ns)}")
    if sp.limit(mm, a, -sp.oo) != 0 or sp.limit(ns, a, -sp.oo) != -1:
        raise CheckFailed("as a -> -oo (D rejects the fake) the minimax gradient must vanish and the other tend to -1")


def check_gradient_ratio(m: ModuleType) -> None:
    from companion.losses import minimax_generator_loss, nonsaturating_generator_loss

    a = torch.tensor([-20.0, -5.0, 0.0, 2.0, 10.0], dtype=torch.float64)
    want = []
    for v in a.tolist():  # autograd through the project's losses, one logit at a time
        grads = []
        for loss in (minimax_generator_loss, nonsaturating_generator_loss):
            x = torch.tensor([v], dtype=torch.float64, requires_grad=True)
            loss(x).backward()
            grads.append(abs(float(x.grad[0])))
        want.append(grads[0] / grads[1])
    close(m.gradient_ratio(a), want, "|dL_minimax/da| / |dL_NS/da| (autograd through companion.losses)", rtol=1e-9)
    big = m.gradient_ratio(torch.tensor([40.0, 300.0], dtype=torch.float64))
    if not torch.isfinite(torch.as_tensor(big)).all():
        raise CheckFailed(
            "gradient_ratio(40) is not finite: 1 - sigma(40) rounds to 0; simplify sigma/(1 - sigma) first"
        )
    close(big, [math.exp(40.0), math.exp(300.0)], "gradient_ratio at a = 40 and 300", rtol=1e-9)


EXERCISES: list[Exercise] = [
    Exercise("saturation", 1, "SymPy: both generator gradients", ("generator_gradients",), check_generator_gradients),
    Exercise("saturation", 2, "How much weaker: the gradient ratio", ("gradient_ratio",), check_gradient_ratio),
    Exercise(
        "saturation",
        3,
        "Measure the stall",
        task="In chapter 1's minimax runs (runs/gan_losses/full/minimax/seed*/metrics.jsonl) find the first step "
        "at which D(G(z)) exceeds 0.01. Plot the generator's gradient norm against D(G(z)) for the steps before "
        "it: is the relation the -sigma(a) of the derivation (a straight line on log-log axes)?",
    ),
]
