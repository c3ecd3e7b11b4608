"""Part II.1: flows give exact log p(x) through triangular Jacobians; GANs and GLO give none."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from companion.models import ArchSpec, build_generator
from companion.theory.flows import (
    FLOW_KINDS,
    build_flow,
    curve_generator,
    grid_integral,
    jacobian_rank,
    kde_slope,
    layer_jacobians,
    log_prob_three_ways,
    logdet_cost,
    off_triangle,
    ring_of_gaussians,
    train_flow,
    two_moons,
)


@pytest.fixture(scope="module")
def trained() -> dict:
    """One small flow of each kind, trained briefly on two moons (a trained flow is not near the identity)."""
    torch.manual_seed(0)
    data = two_moons(2000)
    flows = {}
    for kind in FLOW_KINDS:
        f = build_flow(kind, 2, layers=4, hidden=16)
        train_flow(f, data, steps=150, batch=128, lr=3e-3)
        flows[kind] = f.double().eval()
    return flows


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_log_prob_three_ways_agree_to_1e8(trained, kind: str) -> None:
    x = torch.cat([two_moons(6, seed=5), 3 * torch.randn(6, 2)]).double()  # real and random inputs
    r = log_prob_three_ways(trained[kind], x)
    assert torch.allclose(r["triangular"], r["nflows"], rtol=1e-8, atol=0)
    assert torch.allclose(r["dense"], r["nflows"], rtol=1e-8, atol=0)
    assert float(r["off_triangle"]) == 0.0  # every triangular layer is exactly triangular
    assert float(r["lu_gap"]) < 1e-10  # sum log|U_ii| equals slogdet of the dense W


def _perturbed(kind: str, dim: int = 6, layers: int = 2):
    torch.manual_seed(1)
    flow = build_flow(kind, dim, layers=layers, hidden=8).double()
    with torch.no_grad():  # make the layers non-trivial (identity-initialised ones included)
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return flow.eval()


@pytest.mark.parametrize("kind", ["realnvp", "maf"])
def test_each_layer_jacobian_is_exactly_triangular_in_higher_dimension(kind: str) -> None:
    layers, _ = layer_jacobians(_perturbed(kind), torch.randn(6, dtype=torch.float64))
    assert layers and all(layer.structure in ("triangular", "permutation") for layer in layers)
    assert all(layer.off_triangle == 0.0 for layer in layers)
    # the dense Jacobians are not diagonal: the zeros are structure, not triviality
    assert any(float((lj.jacobian - torch.diag(torch.diagonal(lj.jacobian))).abs().max()) > 1e-3 for lj in layers)


def test_off_triangle_check_sees_the_wrong_triangle() -> None:
    """Negative control: the check that passes lower-triangular matrices must fail their transposes."""
    layers, _ = layer_jacobians(_perturbed("realnvp"), torch.randn(6, dtype=torch.float64))
    coupling = next(lj for lj in layers if lj.structure == "triangular")
    m = coupling.jacobian[coupling.order][:, coupling.order]
    assert off_triangle(m) == 0.0 and off_triangle(m.T) > 1e-3
    assert off_triangle(coupling.jacobian) > 1e-3  # in the original coordinate order it is not triangular


def test_lu_layer_is_dense_and_its_logdet_is_the_u_diagonal() -> None:
    """Glow's LU layer: W = L U is dense (non-zero above and below the diagonal); log|det W| = sum log|U_ii|."""
    layers, _ = layer_jacobians(_perturbed("glow"), torch.randn(6, dtype=torch.float64))
    lu = [lj for lj in layers if lj.structure == "lu"]
    assert len(lu) == 2 and all(lj.off_triangle is None for lj in lu)
    for lj in lu:
        assert off_triangle(lj.jacobian) > 1e-3 and off_triangle(lj.jacobian.T) > 1e-3  # dense
        assert lj.logdet == pytest.approx(float(torch.linalg.slogdet(lj.jacobian)[1]), abs=1e-10)
        assert abs(lj.logdet) > 1e-3  # a non-trivial determinant: the check compares real numbers


def test_composed_coupling_flow_is_dense_and_learns() -> None:
    """Alternating masks: each layer leaves half the coordinates alone, the composition mixes all of them."""
    flow = _perturbed("realnvp", layers=3)  # two layers leave the odd block of J diagonal; three mix everything
    x = torch.randn(6, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: flow._transform(v[None])[0][0], x)
    assert bool((J.abs() > 1e-8).all())  # with non-alternating masks half of J would stay the identity block
    torch.manual_seed(0)
    f = build_flow("realnvp", 2, layers=4, hidden=16)
    losses = train_flow(f, two_moons(2000), steps=150, batch=128, lr=3e-3)
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20 - 0.3  # training lowers the NLL


def test_coupling_scale_is_sigmoid_plus_two() -> None:
    """What nflows runs: scale = sigmoid(s + 2) + 1e-3 (the formula on the page), not exp(s)."""
    from nflows import transforms

    t = transforms.AffineCouplingTransform(torch.tensor([1, 0]), lambda i, o: torch.nn.Linear(i, o))
    s_raw = torch.tensor([[0.7]])
    scale, shift = t._scale_and_shift(torch.cat([torch.full((1, 1), -0.4), s_raw], 1))  # [shift, raw scale]
    assert float(shift) == pytest.approx(-0.4)
    assert float(scale) == pytest.approx(float(torch.sigmoid(s_raw + 2) + 1e-3))
    assert float(scale) != pytest.approx(math.exp(0.7))


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_inverse_round_trip(trained, kind: str) -> None:
    x = torch.randn(50, 2, dtype=torch.float64) * 2
    t = trained[kind]._transform
    with torch.no_grad():
        z, logdet = t(x)
        back, inv_logdet = t.inverse(z)
    assert torch.allclose(back, x, atol=1e-10)
    assert torch.allclose(logdet, -inv_logdet, atol=1e-10)


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_density_integrates_to_one(trained, kind: str) -> None:
    assert abs(grid_integral(trained[kind], lim=8.0, n=500) - 1) < 1e-3


def test_logit_input_flow_for_pixels() -> None:
    torch.manual_seed(0)
    flow = build_flow("realnvp", 16, layers=2, hidden=8, logit_input=True)
    x = (torch.rand(4, 16) * 0.98 + 0.01).double()
    r = log_prob_three_ways(flow, x)
    assert torch.allclose(r["triangular"], r["nflows"], rtol=1e-8) and torch.allclose(
        r["dense"], r["nflows"], rtol=1e-8
    )


def test_logdet_from_the_diagonal_equals_slogdet() -> None:
    assert all(row["agree"] < 1e-9 for row in logdet_cost([4, 32, 128], repeats=1))


def test_broken_nflows_parts_are_the_documented_ones() -> None:
    """Pins what the book says about nflows 0.14 on current torch: NaiveLinear crashes, the parts used work."""
    from nflows import transforms

    with pytest.raises(RuntimeError, match=r"torch\.qr"):
        transforms.NaiveLinear(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in (
            transforms.LULinear(3),
            transforms.ActNorm(3),
            transforms.ReversePermutation(3),
            transforms.MaskedAffineAutoregressiveTransform(3, 8),
        ):
            y, _ = t(torch.randn(5, 3))
            assert y.shape == (5, 3)


def test_two_d_generator_with_one_d_latent_has_rank_one_jacobian() -> None:
    class Curve(torch.nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return curve_generator(z)

    rank, s = jacobian_rank(Curve(), torch.tensor([0.3]))
    assert rank == 1 and s.shape == (1,)


def test_mnist_generator_jacobian_has_rank_exactly_100() -> None:
    torch.manual_seed(0)
    G = build_generator(ArchSpec("report28", 1, 100))
    rank, s = jacobian_rank(G, torch.randn(100))
    assert s.shape == (100,) and rank == 100  # full column rank: locally injective
    J = torch.autograd.functional.jacobian(lambda v: G(v[None]).flatten(), torch.randn(100, dtype=torch.float64))
    eig = torch.linalg.eigvalsh(J @ J.T)  # 784 x 784
    assert int((eig.abs() < 1e-10 * eig.abs().max()).sum()) == 784 - 100  # det(J J^T) = 0, exactly 684 zeros


def test_jacobian_rank_sees_a_bottleneck() -> None:
    """Negative control: a generator that uses only 50 of its 100 latents has rank 50, not 100."""
    torch.manual_seed(0)
    G = build_generator(ArchSpec("report28", 1, 100)).double()

    class Half(torch.nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return G(torch.cat([z[:, :50], torch.zeros_like(z[:, 50:])], 1))

    rank, _ = jacobian_rank(Half(), torch.randn(100))
    assert rank == 50


def test_kde_diverges_on_a_generator_support_but_not_for_a_density() -> None:
    torch.manual_seed(0)
    h = [0.2, 0.1, 0.05, 0.025]
    on_curve = curve_generator(torch.randn(200_000, 1))
    slope_gan, values = kde_slope(on_curve, curve_generator(torch.tensor([[0.3]]))[0], h)
    assert slope_gan == pytest.approx(-1.0, abs=0.15)  # -(D - d) = -1
    assert values[-1] > 5 * values[0]
    gauss = torch.randn(200_000, 2)
    slope_density, _ = kde_slope(gauss, torch.tensor([0.3, 0.0]), h)
    assert abs(slope_density) < 0.15


def test_ring_data_shape() -> None:
    x = ring_of_gaussians(100)
    assert x.shape == (100, 2) and math.isclose(float(x.norm(dim=1).mean()), 2.0, abs_tol=0.2)
