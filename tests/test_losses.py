"""The three GAN losses against hand computation, and their gradients at the extremes."""

from __future__ import annotations

import math

import pytest
import torch

from companion.errors import ConfigError
from companion.losses import (
    LOSSES,
    bce_discriminator_loss,
    get_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    minimax_generator_loss,
    nonsaturating_generator_loss,
)


def sig(a: float) -> float:
    return 1 / (1 + math.exp(-a))


@pytest.mark.parametrize("real,fake", [(2.0, -1.0), (0.0, 0.0), (-3.0, 4.0), (0.7, 0.2)])
def test_bce_discriminator_loss_matches_hand_computation(real: float, fake: float) -> None:
    expected = -math.log(sig(real)) - math.log(1 - sig(fake))
    got = bce_discriminator_loss(torch.tensor([real], dtype=torch.float64), torch.tensor([fake], dtype=torch.float64))
    assert got.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("a", [-5.0, -1.0, 0.0, 0.5, 3.0])
def test_generator_losses_match_hand_computation(a: float) -> None:
    t = torch.tensor([a], dtype=torch.float64)
    assert minimax_generator_loss(t).item() == pytest.approx(math.log(1 - sig(a)), rel=1e-12)
    assert nonsaturating_generator_loss(t).item() == pytest.approx(-math.log(sig(a)), rel=1e-12)
    assert lsgan_generator_loss(t).item() == pytest.approx(0.5 * (a - 1) ** 2, rel=1e-12)


def test_lsgan_discriminator_loss_matches_hand_computation() -> None:
    real = torch.tensor([0.5, 2.0], dtype=torch.float64)
    fake = torch.tensor([-1.0, 0.25], dtype=torch.float64)
    expected = 0.5 * ((0.5 - 1) ** 2 + (2 - 1) ** 2) / 2 + 0.5 * ((-1) ** 2 + 0.25**2) / 2
    assert lsgan_discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-12)


def test_losses_average_over_the_batch() -> None:
    a = torch.tensor([-1.0, 2.0], dtype=torch.float64)
    assert nonsaturating_generator_loss(a).item() == pytest.approx(
        (-math.log(sig(-1.0)) - math.log(sig(2.0))) / 2, rel=1e-12
    )


def _grad(fn, a: float) -> float:
    t = torch.tensor([a], dtype=torch.float64, requires_grad=True)
    fn(t).backward()
    return t.grad.item()


@pytest.mark.parametrize("a", [-10.0, -20.0, -40.0])
def test_minimax_gradient_vanishes_when_d_rejects_fakes(a: float) -> None:
    # dL/da = -sigmoid(a): about -4.5e-5 at a = -10, i.e. D(G(z)) = 4.5e-5.
    g = _grad(minimax_generator_loss, a)
    assert g == pytest.approx(-sig(a), rel=1e-9)
    assert abs(g) < 1e-4


@pytest.mark.parametrize("a", [-10.0, -20.0, -40.0])
def test_nonsaturating_gradient_tends_to_minus_one(a: float) -> None:
    g = _grad(nonsaturating_generator_loss, a)
    assert g == pytest.approx(-(1 - sig(a)), rel=1e-12)
    assert g == pytest.approx(-1.0, abs=1e-4)


@pytest.mark.parametrize("a", [-3.0, 0.0, 2.5])
def test_lsgan_gradient_is_linear(a: float) -> None:
    assert _grad(lsgan_generator_loss, a) == pytest.approx(a - 1, rel=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_stay_finite_for_extreme_logits(name: str) -> None:
    loss = LOSSES[name]
    big = torch.tensor([-200.0, 200.0], requires_grad=True)
    d = loss.discriminator(big, big)
    g = loss.generator(big)
    (d + g).backward()
    assert torch.isfinite(d) and torch.isfinite(g) and torch.isfinite(big.grad).all()


def test_bce_from_logits_is_stable_where_sigmoid_then_bce_is_not() -> None:
    a = torch.tensor([-120.0])
    naive = -torch.log(1 - torch.sigmoid(-a))  # -log(1 - D) with D rounding to exactly 1.0 -> inf
    assert torch.isinf(naive).all()
    assert math.isfinite(nonsaturating_generator_loss(a).item())
    assert nonsaturating_generator_loss(a).item() == pytest.approx(120.0, rel=1e-6)


def test_score_maps_outputs_to_realness() -> None:
    a = torch.tensor([0.0])
    assert LOSSES["nonsaturating"].score(a).item() == 0.5
    assert LOSSES["lsgan"].score(a).item() == 0.0


def test_unknown_loss_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown loss 'wgan'"):
        get_loss("wgan")


# --- batches: a .sum() where a .mean() belongs, or a swapped real/fake, must fail -----------------

REAL = [2.0, -0.5, 1.0]
FAKE = [-1.0, 0.3, -2.0]


def _t(v: list[float]) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float64)


def test_bce_discriminator_loss_on_a_batch_of_three() -> None:
    expected = sum(-math.log(sig(r)) for r in REAL) / 3 + sum(-math.log(1 - sig(f)) for f in FAKE) / 3
    assert bce_discriminator_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(expected, rel=1e-12)
    # negative control: swapping real and fake gives another number
    assert bce_discriminator_loss(_t(FAKE), _t(REAL)).item() != pytest.approx(expected, rel=1e-6)


def test_lsgan_discriminator_loss_on_unequal_batches() -> None:
    real, fake = [0.5, 2.0, 1.5], [-1.0, 0.25]
    expected = 0.5 * sum((r - 1) ** 2 for r in real) / 3 + 0.5 * sum(f**2 for f in fake) / 2
    assert lsgan_discriminator_loss(_t(real), _t(fake)).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "fn,per_sample",
    [
        (minimax_generator_loss, lambda a: math.log(1 - sig(a))),
        (nonsaturating_generator_loss, lambda a: -math.log(sig(a))),
        (lsgan_generator_loss, lambda a: 0.5 * (a - 1) ** 2),
    ],
)
def test_generator_losses_average_a_batch_of_three(fn, per_sample) -> None:
    assert fn(_t(FAKE)).item() == pytest.approx(sum(per_sample(a) for a in FAKE) / 3, rel=1e-12)


def test_sigmoid_then_bceloss_clamps_and_kills_the_gradient() -> None:
    """What the report's Sigmoid + nn.BCELoss does at a confident logit: a clamped 100 and a zero gradient."""
    a = torch.tensor([-200.0], requires_grad=True)  # D(G(z)) = sigmoid(-200) rounds to 0 in float32
    p = torch.sigmoid(a)
    assert float(p.detach()) == 0.0
    loss = torch.nn.functional.binary_cross_entropy(p, torch.ones(1))  # the generator wants D(G(z)) = 1
    loss.backward()
    assert float(loss.detach()) == 100.0  # log 0 clamped at -100, not inf
    assert float(a.grad) == 0.0  # and no signal flows back: the generator cannot learn from it
    b = torch.tensor([-200.0], requires_grad=True)
    nonsaturating_generator_loss(b).backward()
    assert float(b.grad) == pytest.approx(-1.0)  # from logits: the full gradient


#: What each registry name must compute for G, by hand, per sample (a = D's logit on a fake).
REGISTRY_G = {
    "minimax": lambda a: math.log(1 - sig(a)),
    "nonsaturating": lambda a: -math.log(sig(a)),
    "lsgan": lambda a: 0.5 * (a - 1) ** 2,
    "hinge": lambda a: -a,
}


@pytest.mark.parametrize("name", sorted(REGISTRY_G))
def test_registry_names_run_their_own_generator_loss(name: str) -> None:
    """`--loss minimax` must train with log(1 - D), not with a neighbour's loss: the registry is checked
    by value on a batch of three, so a swapped entry fails."""
    a = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    want = sum(REGISTRY_G[name](v) for v in a.tolist()) / 3
    assert math.isclose(float(get_loss(name).generator(a)), want, rel_tol=1e-12)
    assert set(REGISTRY_G) == set(LOSSES)


def test_hinge_losses_by_hand_on_a_batch_of_three() -> None:
    real, fake = _t([2.0, 0.5, -1.0]), _t([-3.0, 0.2, -0.5])
    # max(0, 1 - r): 0, 0.5, 2  -> mean 2.5/3 ; max(0, 1 + f): 0, 1.2, 0.5 -> mean 1.7/3
    assert float(hinge_discriminator_loss(real, fake)) == pytest.approx(2.5 / 3 + 1.7 / 3, rel=1e-12)
    assert float(hinge_generator_loss(fake)) == pytest.approx(3.3 / 3, rel=1e-12)
    a = fake.clone().requires_grad_(True)
    hinge_generator_loss(a).backward()
    assert torch.allclose(a.grad, torch.full_like(a, -1 / 3))  # never saturates
