"""Part II.3, min and max: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import torch

from companion.exercises.checks.common import close
from companion.exercises.registry import CheckFailed, Exercise

__all__ = ["EXERCISES"]


def check_pure_values(m: ModuleType) -> None:
    f = np.array([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    got = tuple(float(v) for v in m.pure_values(f))
    if got != (1.0, 2.0):
        raise CheckFailed(f"for [[3, 1], [0, 2], [1, 1]] (rows maximise) expected (1.0, 2.0), got {got}")
    pennies = np.array([[1.0, -1.0], [-1.0, 1.0]])
    if tuple(float(v) for v in m.pure_values(pennies)) != (-1.0, 1.0):
        raise CheckFailed("matching pennies: expected (-1.0, 1.0)")


def _js(p: torch.Tensor, q: torch.Tensor) -> float:
    mid = (p + q) / 2

    def kl(u: torch.Tensor, v: torch.Tensor) -> float:
        k = u > 0
        return float((u[k] * (u[k] / v[k]).log()).sum())

    return 0.5 * kl(p, mid) + 0.5 * kl(q, mid)


def check_optimal_d(m: ModuleType) -> None:
    p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.5, 0.0], dtype=torch.float64)
    close(m.optimal_d(p, q), [2 / 3, 2 / 3, 0.0, 0.5], "D* = p_data / (p_data + p_g) (1/2 where both are 0)")
    for p_g in (q, torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)):  # the second: D* = 1 where p_g = 0
        v = m.gan_value(p, p_g, m.optimal_d(p, p_g))
        if not torch.isfinite(torch.as_tensor(v)):
            raise CheckFailed("gan_value is not finite where D* = 1 and p_g = 0: use 0 log 0 = 0")
        close(v, 2 * _js(p, p_g) - math.log(4), "V(D*, G) = 2 JS(p_data || p_g) - log 4", rtol=1e-10)


EXERCISES: list[Exercise] = [
    Exercise("minimax", 1, "max-min and min-max of a payoff matrix", ("pure_values",), check_pure_values),
    Exercise("minimax", 2, "D* and V(D*, G) = 2 JS - log 4", ("optimal_d", "gan_value"), check_optimal_d),
    Exercise(
        "minimax",
        3,
        "Break the tie",
        task="In max_D min_G the optimal D is the constant 1/2. Use best_response_generator(d, tie=...) with "
        "'first', 'last' and 'spread' and compute V and JS(p_data || p_g) for each. Why does the value not "
        "change while the generator does?",
    ),
]
