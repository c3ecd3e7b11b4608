"""Part II.2, the saturating gradient: reference solutions."""

from __future__ import annotations

import sympy as sp
import torch
from torch import Tensor


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


# --8<-- [start:gradient_ratio]
def gradient_ratio(a: Tensor) -> Tensor:
    r"""How much weaker the minimax generator's gradient is than the non-saturating one, at logit $a$.

    $$r(a) = \frac{|\partial L_{minimax}/\partial a|}{|\partial L_{NS}/\partial a|}
    = \frac{\sigma(a)}{1 - \sigma(a)}$$

    Simplify the quotient before you compute it: in float64, $1 - \sigma(a)$ rounds to 0 for
    $a \gtrsim 37$, and the quotient as written returns inf there. (At $a = -5$, a fake that D
    rejects with $D(G(z)) \approx 0.007$, the ratio is about 1/148.)

    Args:
        a: (N,) D's logits on fakes, float64.

    Returns:
        (N,) the ratio, positive and finite for every finite logit up to about 700.
    """
    return torch.exp(a)


# --8<-- [end:gradient_ratio]
