"""II.2 The saturating generator gradient: exercises. Replace each `raise NotImplementedError` with your answer.

Check your answers with:  companion exercises check saturation
The reference solutions are on the chapter's page (collapsed) and in companion/exercises/solutions/.
"""

from __future__ import annotations

import sympy as sp


def generator_gradients(a: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    r"""SymPy derivatives of both BCE generator losses with respect to D's logit $a$.

    With $D = \sigma(a) = 1/(1 + e^{-a})$: minimax $L = \log(1 - D)$, non-saturating $L = -\log D$.

    Args:
        a: The real symbol for the logit.

    Returns:
        ($\partial L_{minimax}/\partial a$, $\partial L_{NS}/\partial a$) as SymPy expressions in ``a``.
    """
    raise NotImplementedError
