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
# # II.3 The order of min and max, as a notebook
#
# On a grid, the GAN game can be solved exactly in both orders. Both give the value $-\log 4$; what
# differs is the solution: $\min_G \max_D$ returns $p_{data}$, $\max_D \min_G$ returns a blind
# discriminator $D \equiv \tfrac12$ against which every generator is a best response.

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

STEPS = {"tiny": 200, "cpu": 3000, "gpu": 3000}[MODE]

# %%
import math

from companion.theory.minimax import (
    best_response_generator,
    js_divergence,
    make_problem,
    matching_pennies,
    max_d_min_g,
    min_g_max_d,
    pure_game_values,
    value,
)

print("matching pennies, (max_x min_y, min_y max_x):", pure_game_values(matching_pennies()))
prob = make_problem()
right, other = min_g_max_d(prob, steps=STEPS), max_d_min_g(prob, steps=STEPS)
print(f"min_G max_D: V = {right['value']:.5f}, JS(p_data || p_g) = {right['js']:.2e}")
print(
    f"max_D min_G: V = {other['value']:.5f}, D ranges over [{float(other['d'].min()):.4f}, {float(other['d'].max()):.4f}]"
)
print(f"-log 4 = {-math.log(4):.5f}")

# %% [markdown]
# ## Against $D \equiv \tfrac12$ every generator is a best response

# %%
half = torch.full_like(prob.p_data, 0.5)
for tie in ("first", "last", "spread"):
    p_g = best_response_generator(half, tie)
    print(
        f"tie-break {tie:>6}: V = {float(value(prob.p_data, p_g, half)):.5f}, JS = {float(js_divergence(prob.p_data, p_g)):.3f}"
    )
print(f"p_g = p_data    : V = {float(value(prob.p_data, prob.p_data, half)):.5f}, JS = 0.000")

# %%
import matplotlib.pyplot as plt

x = prob.x.numpy()
plt.figure(figsize=(7, 3))
plt.fill_between(x, prob.p_data.numpy(), color="0.8", label="p_data")
plt.plot(x, right["p_g"].numpy(), label="p_g from min_G max_D")
plt.legend()
plt.show()
