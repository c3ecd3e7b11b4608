"""Part II.2: SymPy's derivation of the generator gradients, checked against torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from companion.losses import lsgan_generator_loss, minimax_generator_loss, nonsaturating_generator_loss
from companion.theory.saturation import D, a, derive, gradient_functions, latex_table

SIG = 1 / (1 + sp.exp(-a))


def test_minimax_gradient_is_minus_sigmoid_and_vanishes() -> None:
    d = derive()["minimax"]
    assert sp.simplify(d.grad_a + SIG) == 0
    assert d.grad_a_in_D == -D
    assert d.limit_at_zero == 0 and d.limit_at_one == -1


def test_nonsaturating_gradient_tends_to_minus_one() -> None:
    d = derive()["nonsaturating"]
    assert sp.simplify(d.grad_a + (1 - SIG)) == 0
    assert sp.simplify(d.grad_a_in_D - (D - 1)) == 0
    assert d.limit_at_zero == -1 and d.limit_at_one == 0


def test_lsgan_gradient_is_linear_and_does_not_vanish() -> None:
    d = derive()["lsgan"]
    assert sp.simplify(d.grad_a - (a - 1)) == 0
    assert d.limit_at_zero == -sp.oo


@pytest.mark.parametrize("name", ["minimax", "nonsaturating"])
def test_chain_rule_through_d_equals_the_direct_derivative(name: str) -> None:
    d = derive()[name]
    assert sp.simplify(d.grad_a - d.grad_a_in_D.subs(D, SIG)) == 0


@pytest.mark.parametrize(
    "name,fn",
    [
        ("minimax", minimax_generator_loss),
        ("nonsaturating", nonsaturating_generator_loss),
        ("lsgan", lsgan_generator_loss),
    ],
)
def test_sympy_gradients_equal_autograd_through_the_project_losses(name: str, fn) -> None:
    points = np.linspace(-30, 30, 241)
    sym = np.asarray(gradient_functions()[name](points), dtype=np.float64)
    t = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    # the losses average over the batch, so each element's gradient carries a factor 1/B
    (fn(t) * len(points)).backward()
    # rtol 1e-8: torch.softplus is exactly linear beyond 20 (an e^-20 = 2e-9 relative approximation)
    np.testing.assert_allclose(t.grad.numpy(), sym, rtol=1e-8, atol=1e-300)


def test_latex_is_emitted_by_sympy() -> None:
    table = latex_table()
    assert "| minimax |" in table and "$- D$" in table and "$D - 1$" in table
