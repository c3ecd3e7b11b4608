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


def _brute_force(f) -> tuple[float, float]:
    rows, cols = range(f.shape[0]), range(f.shape[1])
    maxmin = max(min(f[x, y] for y in cols) for x in rows)
    minmax = min(max(f[x, y] for x in rows) for y in cols)
    return float(maxmin), float(minmax)


def test_asymmetric_game_by_hand() -> None:
    """x (rows) maximises, y (columns) minimises; a swapped axis gives (1, 1), not (1, 2)."""
    import numpy as np

    f = np.array([[3.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    assert pure_game_values(f) == (1.0, 2.0)


@pytest.mark.parametrize("seed", range(6))
def test_pure_game_values_match_brute_force_on_asymmetric_games(seed: int) -> None:
    import numpy as np

    f = np.random.default_rng(seed).normal(size=(3 + seed, 5))  # non-square: x and y cannot be swapped
    lo, hi = pure_game_values(f)
    assert (lo, hi) == _brute_force(f)
    assert lo <= hi


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


def test_value_with_a_point_mass_generator_where_d_star_is_one(problem) -> None:
    """p_g = a point mass: D* = 1 wherever only data lives, so p_g log(1 - D*) is 0 log 0 there (= 0)."""
    p_g = torch.zeros_like(problem.p_data)
    p_g[60] = 1.0
    d_star = optimal_discriminator(problem.p_data, p_g)
    assert float(d_star.max()) == 1.0
    v = value(problem.p_data, p_g, d_star)
    assert torch.isfinite(v)
    assert float(v) == pytest.approx(2 * float(js_divergence(problem.p_data, p_g)) - LOG4, rel=1e-12)


def test_every_generator_is_a_best_response_to_the_blind_discriminator(problem) -> None:
    """Against D = 1/2, V = -log 4 whatever p_g is: p_data, a point mass and random p_g alike."""
    half = torch.full_like(problem.p_data, 0.5)
    values = [value(problem.p_data, p, half) for p in (problem.p_data, _random_pg(len(half), 3))]
    values += [value(problem.p_data, best_response_generator(half, tie), half) for tie in ("first", "last", "spread")]
    assert all(float(v) == pytest.approx(-LOG4, abs=1e-12) for v in values)
    first, last = best_response_generator(half, "first"), best_response_generator(half, "last")
    spread = best_response_generator(half, "spread")
    assert int(first.argmax()) == 0 and int(last.argmax()) == len(half) - 1  # tie-breaks differ
    assert float(spread.max()) == pytest.approx(1 / len(half))  # and need not be a point mass


def test_best_response_to_a_fixed_d_is_a_point_mass(problem) -> None:
    d = optimal_discriminator(problem.p_data, _random_pg(len(problem.x), 0))
    p = best_response_generator(d)
    assert float(p.max()) == 1.0 and int(p.argmax()) == int(d.argmax())
    g = torch.Generator().manual_seed(1)
    for _ in range(20):  # no other generator does better against this D
        assert value(problem.p_data, p, d) <= value(
            problem.p_data, _random_pg(len(p), int(torch.randint(99, (1,), generator=g))), d
        )


def test_both_orders_have_the_same_value_for_the_gan_game(problem) -> None:
    assert min_g_max_d(problem)["value"] == pytest.approx(max_d_min_g(problem)["value"], abs=1e-3)


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


def test_best_response_play_lands_on_argmax_d_and_moves(problem) -> None:
    bad = gradient_play(problem, steps=400, generator="best_response")
    assert all(bad["on_argmax"])  # every round, the mass sits where the D it faced is largest
    assert len(set(bad["mass_at"])) > 3  # and it hops: D reacts and the maximum moves
    assert all(float(s.max()) == 1.0 for s in bad["snapshots"])
