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
    assert d.rejected.value == 0 and d.fooled.value == -1
    assert d.rejected.where == r"\lim_{a \to -\infty}" and d.fooled.where == r"\lim_{a \to +\infty}"


def test_nonsaturating_gradient_tends_to_minus_one() -> None:
    d = derive()["nonsaturating"]
    assert sp.simplify(d.grad_a + (1 - SIG)) == 0
    assert sp.simplify(d.grad_a_in_D - (D - 1)) == 0
    assert d.rejected.value == -1 and d.fooled.value == 0


def test_lsgan_gradient_is_taken_at_the_values_its_d_takes() -> None:
    """LSGAN's D is trained to 0 on fakes and 1 on real data: the gradient there is -1 and 0, not a limit."""
    d = derive()["lsgan"]
    assert sp.simplify(d.grad_a - (a - 1)) == 0
    assert (d.rejected.where, d.rejected.value) == ("a = 0", -1)
    assert (d.fooled.where, d.fooled.value) == ("a = 1", 0)


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


def _rows(table: str) -> dict[str, list[str]]:
    lines = [ln for ln in table.splitlines() if ln.startswith("| ") and not ln.startswith("| loss")]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines)}


def test_latex_table_columns_hold_the_right_limits() -> None:
    """Parsed back, each row's regime cells carry the expected variable and value (swapped columns fail)."""
    header = latex_table().splitlines()[0]
    assert header.index("D rejects the fake") < header.index("D is fooled")
    rows = _rows(latex_table())
    assert rows["minimax"][3:] == ["$\\lim_{a \\to -\\infty} = 0$", "$\\lim_{a \\to +\\infty} = -1$"]
    assert rows["nonsaturating"][3:] == ["$\\lim_{a \\to -\\infty} = -1$", "$\\lim_{a \\to +\\infty} = 0$"]
    assert rows["lsgan"][2:] == ["—", "$a = 0$: $-1$", "$a = 1$: $0$"]
