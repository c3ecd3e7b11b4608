r"""Why the minimax generator stalls: its gradient vanishes as D(G(z)) -> 0.

Let $a$ be the discriminator's logit on a generated image, $D = \sigma(a)$.
The generator's per-sample losses and their derivatives with respect to $a$:

| loss | $L_G(a)$ | $\partial L_G/\partial a$ | as $D(G(z)) \to 0$ |
|---|---|---|---|
| minimax | $\log(1 - \sigma(a))$ | $-\sigma(a)$ | $\to 0$ |
| non-saturating | $-\log \sigma(a)$ | $-(1 - \sigma(a))$ | $\to -1$ |
| least squares | $\tfrac12 (a - 1)^2$ | $a - 1$ | grows |

Through $D$ with the chain rule: $\frac{d}{dD}\log(1-D) = -\frac{1}{1-D}$ and
$\frac{dD}{da} = D(1-D)$, so $\frac{\partial L}{\partial a} = -D$, which is 0 exactly where
the generator is worst. The non-saturating loss has $\frac{d}{dD}(-\log D) = -\frac1D$,
so $\frac{\partial L}{\partial a} = -(1 - D) \to -1$ there.

Everything here is derived by SymPy (`derive`), not typed in: the LaTeX on the book's
page is emitted by `latex_table`, and the tests compare SymPy's numbers with
torch autograd through `companion.losses`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["Derivation", "derive", "gradient_functions", "latex_table"]


@dataclass(frozen=True)
class Derivation:
    """SymPy results for one generator loss.

    Attributes:
        name: ``minimax``, ``nonsaturating`` or ``lsgan``.
        loss: $L_G$ as a function of the logit ``a``.
        grad_a: $\\partial L_G / \\partial a$, simplified.
        grad_a_in_D: the same derivative written in $D = \\sigma(a)$ via the chain rule
            (None for LSGAN, whose loss is not a function of $D$ alone).
        limit_at_zero: $\\lim_{a \\to -\\infty} \\partial L_G/\\partial a$, i.e. as D(G(z)) -> 0.
        limit_at_one: $\\lim_{a \\to +\\infty} \\partial L_G/\\partial a$, i.e. as D(G(z)) -> 1.
    """

    name: str
    loss: sp.Expr
    grad_a: sp.Expr
    grad_a_in_D: sp.Expr | None
    limit_at_zero: sp.Expr
    limit_at_one: sp.Expr


a = sp.Symbol("a", real=True)
D = sp.Symbol("D", positive=True)


def _sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


# --8<-- [start:derive]
def derive() -> dict[str, Derivation]:
    """Derive the three generator gradients and their limits symbolically."""
    s = _sigmoid(a)
    losses = {
        "minimax": (sp.log(1 - s), sp.log(1 - D)),
        "nonsaturating": (-sp.log(s), -sp.log(D)),
        "lsgan": ((a - 1) ** 2 / 2, None),
    }
    out = {}
    for name, (loss_a, loss_D) in losses.items():
        grad = sp.simplify(sp.diff(loss_a, a))
        chain = None
        if loss_D is not None:
            # dL/da = dL/dD * dD/da with dD/da = D (1 - D) for D = sigmoid(a)
            chain = sp.simplify(sp.diff(loss_D, D) * D * (1 - D))
        out[name] = Derivation(
            name=name,
            loss=loss_a,
            grad_a=grad,
            grad_a_in_D=chain,
            limit_at_zero=sp.limit(grad, a, -sp.oo),
            limit_at_one=sp.limit(grad, a, sp.oo),
        )
    return out


# --8<-- [end:derive]


def gradient_functions() -> dict[str, object]:
    """Numeric $\\partial L_G/\\partial a$ per loss (``numpy``-vectorised lambdas of SymPy's results)."""
    return {name: sp.lambdify(a, d.grad_a, "numpy") for name, d in derive().items()}


def latex_table(derivations: dict[str, Derivation] | None = None) -> str:
    """A Markdown table of SymPy-emitted LaTeX: loss, gradient, chain-rule form, limits."""
    derivations = derivations or derive()
    rows = [
        "| loss | $L_G(a)$ | $\\partial L_G/\\partial a$ | in $D=\\sigma(a)$ | $D(G(z))\\to 0$ | $D(G(z))\\to 1$ |",
        "|---|---|---|---|---|---|",
    ]
    for d in derivations.values():
        chain = "—" if d.grad_a_in_D is None else f"${sp.latex(d.grad_a_in_D)}$"
        rows.append(
            f"| {d.name} | ${sp.latex(d.loss)}$ | ${sp.latex(d.grad_a)}$ | {chain} | "
            f"${sp.latex(d.limit_at_zero)}$ | ${sp.latex(d.limit_at_one)}$ |"
        )
    return "\n".join(rows) + "\n"
