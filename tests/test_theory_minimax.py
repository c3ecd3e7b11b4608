"""Part II.3: the order of min and max, computed exactly and by gradient play."""

from __future__ import annotations

import math

import pytest
import torch

from companion.theory.minimax import (
    best_response_generator,
    gradient_play,
    js_divergence,
    make_problem,
    matching_pennies,
    max_d_min_g,
    min_g_max_d,
    optimal_discriminator,
    pure_game_values,
    squared_distance_game,
    value,
)

LOG4 = math.log(4)


def test_matching_pennies_order_matters() -> None:
    assert pure_game_values(matching_pennies()) == (-1.0, 1.0)


def test_squared_distance_game_order_matters() -> None:
    lo, hi = pure_game_values(squared_distance_game(101))
    assert lo == 0.0 and hi == pytest.approx(0.25, abs=1e-15)


@pytest.fixture(scope="module")
def problem():
    return make_problem()


def _random_pg(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(n, generator=g, dtype=torch.float64), 0)


@pytest.mark.parametrize("seed", range(5))
def test_optimal_discriminator_beats_every_perturbation(problem, seed: int) -> None:
    p_g = _random_pg(len(problem.x), seed)
    d_star = optimal_discriminator(problem.p_data, p_g)
    best = value(problem.p_data, p_g, d_star)
    g = torch.Generator().manual_seed(100 + seed)
    for _ in range(20):
        logit = torch.logit(d_star.clamp(1e-12, 1 - 1e-12)) + 0.3 * torch.randn(
            d_star.shape, generator=g, dtype=torch.float64
        )
        assert value(problem.p_data, p_g, torch.sigmoid(logit)) < best


@pytest.mark.parametrize("seed", range(5))
def test_value_at_optimal_d_is_twice_js_minus_log4(problem, seed: int) -> None:
    p_g = _random_pg(len(problem.x), seed)
    v = value(problem.p_data, p_g, optimal_discriminator(problem.p_data, p_g))
    assert float(v) == pytest.approx(2 * float(js_divergence(problem.p_data, p_g)) - LOG4, rel=1e-12, abs=1e-12)


def test_min_g_max_d_reaches_minus_log4_at_p_data(problem) -> None:
    r = min_g_max_d(problem)
    assert r["value"] == pytest.approx(-LOG4, abs=1e-4)
    assert r["js"] < 1e-4
    assert float((r["p_g"] - problem.p_data).abs().sum()) / 2 < 0.01  # total variation
    # D* = 1/2 wherever there is data; far in the tails both densities are ~0 and D* is irrelevant
    bulk = problem.p_data > 1e-4 * problem.p_data.max()
    assert float((r["d"][bulk] - 0.5).abs().max()) < 0.02


def test_best_response_to_a_fixed_d_is_a_point_mass(problem) -> None:
    d = optimal_discriminator(problem.p_data, _random_pg(len(problem.x), 0))
    p = best_response_generator(d)
    assert float(p.max()) == 1.0 and int(p.argmax()) == int(d.argmax())
    g = torch.Generator().manual_seed(1)
    for _ in range(20):  # no other generator does better against this D
        assert value(problem.p_data, p, d) <= value(
            problem.p_data, _random_pg(len(p), int(torch.randint(99, (1,), generator=g))), d
        )


def test_max_d_min_g_gives_a_blind_d_and_a_collapsed_g(problem) -> None:
    r = max_d_min_g(problem)
    assert r["value"] == pytest.approx(-LOG4, abs=1e-3)
    assert float((r["d"] - 0.5).abs().max()) < 1e-3  # D is the constant 1/2: it carries no information
    assert float(r["p_g"].max()) == 1.0  # a point mass
    assert r["js"] > 0.68  # JS(p_data || point mass) is close to its maximum log 2 = 0.693


def test_alternating_gradient_play_learns_both_modes_best_response_play_does_not(problem) -> None:
    good = gradient_play(problem, generator="gradient")
    bad = gradient_play(problem, generator="best_response")
    assert good["js"][-1] < 1e-3
    assert min(bad["js"][len(bad["js"]) // 2 :]) > 0.5
