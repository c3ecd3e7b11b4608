r"""Why the minimax generator stalls: its gradient vanishes as D(G(z)) -> 0.

Let $a$ be the discriminator's output on a generated image: a logit for the BCE losses, with
$D(G(z)) = \sigma(a)$, and the raw score for least squares, whose discriminator is trained
towards the targets 0 (fake) and 1 (real). The generator's per-sample losses and their
derivatives with respect to $a$, where the discriminator rejects the fake and where it is fooled:

| loss | $L_G(a)$ | $\partial L_G/\partial a$ | D rejects the fake | D is fooled |
|---|---|---|---|---|
| minimax | $\log(1 - \sigma(a))$ | $-\sigma(a)$ | $\lim_{a\to-\infty} = 0$ | $\lim_{a\to+\infty} = -1$ |
| non-saturating | $-\log \sigma(a)$ | $-(1 - \sigma(a))$ | $\lim_{a\to-\infty} = -1$ | $\lim_{a\to+\infty} = 0$ |
| least squares | $\tfrac12 (a - 1)^2$ | $a - 1$ | at $a = 0$: $-1$ | at $a = 1$: $0$ |

For the BCE losses "D rejects the fake" is the limit $a \to -\infty$ ($D(G(z)) = \sigma(a) \to 0$);
for least squares it is D's own target for fakes, $a = 0$, where the gradient is $-1$ (and it
keeps growing linearly, $a - 1$, for scores below the target: nothing saturates).

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

__all__ = ["Derivation", "Regime", "derive", "gradient_functions", "latex_table"]


@dataclass(frozen=True)
class Regime:
    """The generator's gradient in one situation, with the variable and value it is taken at.

    Attributes:
        where: LaTeX naming the variable and where it goes (``\\lim_{a \\to -\\infty}``) or sits (``a = 0``).
        value: $\\partial L_G / \\partial a$ there (a limit or a value).
    """

    where: str
    value: sp.Expr


@dataclass(frozen=True)
class Derivation:
    """SymPy results for one generator loss.

    Attributes:
        name: ``minimax``, ``nonsaturating`` or ``lsgan``.
        loss: $L_G$ as a function of D's output ``a``.
        grad_a: $\\partial L_G / \\partial a$, simplified.
        grad_a_in_D: the same derivative written in $D = \\sigma(a)$ via the chain rule
            (None for LSGAN, whose discriminator has no sigmoid).
        rejected: the gradient where D rejects the fake (BCE: $a \\to -\\infty$; LSGAN: $a = 0$, its fake target).
        fooled: the gradient where D takes the fake for real (BCE: $a \\to +\\infty$; LSGAN: $a = 1$).
    """

    name: str
    loss: sp.Expr
    grad_a: sp.Expr
    grad_a_in_D: sp.Expr | None
    rejected: Regime
    fooled: Regime


a = sp.Symbol("a", real=True)
D = sp.Symbol("D", positive=True)


def _sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


# --8<-- [start:derive]
def derive() -> dict[str, Derivation]:
    """Derive the three generator gradients, and their values where D rejects or accepts the fake."""
    s = _sigmoid(a)
    losses = {
        "minimax": (sp.log(1 - s), sp.log(1 - D)),
        "nonsaturating": (-sp.log(s), -sp.log(D)),
        "lsgan": ((a - 1) ** 2 / 2, None),
    }
    out = {}
    for name, (loss_a, loss_D) in losses.items():
        grad = sp.simplify(sp.diff(loss_a, a))
        if loss_D is not None:
            # dL/da = dL/dD * dD/da with dD/da = D (1 - D) for D = sigmoid(a)
            chain = sp.simplify(sp.diff(loss_D, D) * D * (1 - D))
            rejected = Regime(r"\lim_{a \to -\infty}", sp.limit(grad, a, -sp.oo))  # D(G(z)) -> 0
            fooled = Regime(r"\lim_{a \to +\infty}", sp.limit(grad, a, sp.oo))  # D(G(z)) -> 1
        else:
            # Least squares: D's output is a score trained towards 0 (fake) and 1 (real).
            chain = None
            rejected = Regime("a = 0", grad.subs(a, 0))
            fooled = Regime("a = 1", grad.subs(a, 1))
        out[name] = Derivation(name, loss_a, grad, chain, rejected, fooled)
    return out


# --8<-- [end:derive]


def gradient_functions() -> dict[str, object]:
    """Numeric $\\partial L_G/\\partial a$ per loss (``numpy``-vectorised lambdas of SymPy's results)."""
    return {name: sp.lambdify(a, d.grad_a, "numpy") for name, d in derive().items()}


def latex_table(derivations: dict[str, Derivation] | None = None) -> str:
    """A Markdown table of SymPy-emitted LaTeX: loss, gradient, chain-rule form, and the two regimes.

    Each regime cell names its variable: ``$\\lim_{a \\to -\\infty} = 0$`` or ``$a = 0$: $-1$``.
    """
    derivations = derivations or derive()
    rows = [
        "| loss | $L_G(a)$ | $\\partial L_G/\\partial a$ | in $D=\\sigma(a)$ | D rejects the fake | D is fooled |",
        "|---|---|---|---|---|---|",
    ]

    def cell(r: Regime) -> str:
        if r.where.startswith(r"\lim"):
            return f"${r.where} = {sp.latex(r.value)}$"
        return f"${r.where}$: ${sp.latex(r.value)}$"

    for d in derivations.values():
        chain = "—" if d.grad_a_in_D is None else f"${sp.latex(d.grad_a_in_D)}$"
        rows.append(
            f"| {d.name} | ${sp.latex(d.loss)}$ | ${sp.latex(d.grad_a)}$ | {chain} | {cell(d.rejected)} | "
            f"{cell(d.fooled)} |"
        )
    return "\n".join(rows) + "\n"
