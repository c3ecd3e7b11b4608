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
# # II.2 The saturating gradient, as a notebook
#
# SymPy derives both BCE generator gradients and where they go when the discriminator rejects the
# fake. Every formula below is SymPy's output, rendered as math.

# %% [markdown]
# **Run it yourself.** Locally: `jupyter lab` in a clone (the package installed with
# `pip install -e ".[dev,docs]"`), or open this file through jupytext. On a hosted notebook service
# with a GPU (Colab, Kaggle): upload the source archive of the repository (or clone it) and run the
# install cell; the settings cell then picks the chapter's full settings on the GPU.

# %%
# Install the package where it is missing (a hosted notebook): from a clone or a source archive.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("companion") is None:
    source = os.environ.get("COMPANION_SOURCE", "gan-companion")  # a clone folder or a .zip of the repository
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)

# %%
# Settings: "tiny" (seconds, synthetic data: what the tests run), "cpu" (minutes: the copy in the book),
# "gpu" (the chapter's full settings). Set MODE by hand to override.
import torch

MODE = os.environ.get("COMPANION_NOTEBOOK") or ("gpu" if torch.cuda.is_available() else "cpu")
print("mode:", MODE, "| device:", "cuda" if torch.cuda.is_available() else "cpu", "| torch", torch.__version__)

# %%
import sympy as sp
from IPython.display import Markdown, display

from companion.theory.saturation import D, a, derive, latex_table

d = derive()


def show(label: str, expr) -> None:
    display(Markdown(f"{label}: $\\displaystyle {sp.latex(expr)}$"))


for name in ("minimax", "nonsaturating", "lsgan"):
    x = d[name]
    show(f"**{name}** loss $L_G(a)$", x.loss)
    show("its derivative $\\partial L_G/\\partial a$", x.grad_a)
    if x.grad_a_in_D is not None:
        show("the same through $D = \\sigma(a)$", x.grad_a_in_D)
    display(Markdown(f"where D rejects the fake, ${x.rejected.where}$: $\\;{sp.latex(x.rejected.value)}$"))

# %% [markdown]
# The whole table, as the book's page shows it (emitted by `latex_table`):

# %%
display(Markdown(latex_table(d)))

# %% [markdown]
# ## The chain rule, step by step
#
# $\frac{d}{dD}\log(1 - D)$ times $\frac{dD}{da} = D(1 - D)$:

# %%
step1 = sp.diff(sp.log(1 - D), D)
show("$\\frac{d}{dD}\\log(1-D)$", step1)
show("times $D(1-D)$", sp.simplify(step1 * D * (1 - D)))
show("and as $a \\to -\\infty$ (where $D(G(z)) \\to 0$)", sp.limit(-1 / (1 + sp.exp(-a)), a, -sp.oo))
