# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The saturating gradient, live
#
# This page is a notebook executed when the book is built: every output below was computed by
# SymPy just now. Change a cell and rebuild (or open the file in Jupyter via jupytext) to explore.

# %%
import sympy as sp

from companion.theory.saturation import D, a, derive

d = derive()
mm, ns = d["minimax"], d["nonsaturating"]
mm.grad_a, mm.grad_a_in_D, mm.limit_at_zero

# %% [markdown]
# The non-saturating loss: derivative, the same in terms of $D$, and its limit as $D(G(z)) \to 0$.

# %%
ns.grad_a, ns.grad_a_in_D, ns.limit_at_zero

# %% [markdown]
# How small is the minimax gradient when the discriminator is 99.9% sure a sample is fake?

# %%
a_val = sp.log(sp.Rational(1, 999))  # the logit at which sigma(a) = D(G(z)) = 0.001
{name: sp.N(v.grad_a.subs(a, a_val), 6) for name, v in d.items()}

# %% [markdown]
# The chain rule, step by step, for the minimax loss:

# %%
dL_dD = sp.diff(sp.log(1 - D), D)
dD_da = D * (1 - D)
dL_dD, dD_da, sp.simplify(dL_dD * dD_da)
