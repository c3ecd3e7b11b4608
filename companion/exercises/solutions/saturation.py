"""Part II.2, the saturating gradient: reference solutions."""

from __future__ import annotations

import sympy as sp


# --8<-- [start:generator_gradients]
def generator_gradients(a: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    r"""SymPy derivatives of both BCE generator losses with respect to D's logit $a$.

    With $D = \sigma(a) = 1/(1 + e^{-a})$: minimax $L = \log(1 - D)$, non-saturating $L = -\log D$.

    Args:
        a: The real symbol for the logit.

    Returns:
        ($\partial L_{minimax}/\partial a$, $\partial L_{NS}/\partial a$) as SymPy expressions in ``a``.
    """
    d = 1 / (1 + sp.exp(-a))
    return sp.diff(sp.log(1 - d), a), sp.diff(-sp.log(d), a)


# --8<-- [end:generator_gradients]
