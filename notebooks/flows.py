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
# # II.1 Flows and exact likelihood, as a notebook
#
# A RealNVP flow on two moons: its exact $\log p(x)$ three ways, the density it learned, and, for
# contrast, a generator from a 1-D latent whose kernel density estimate diverges.

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

import warnings

warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
STEPS = {"tiny": 30, "cpu": 1500, "gpu": 3000}[MODE]

# %%
from companion.theory.flows import build_flow, grid_integral, log_prob_three_ways, train_flow, two_moons

torch.manual_seed(0)
flow = build_flow("realnvp", 2, layers=6, hidden=64)
losses = train_flow(flow, two_moons(20000), steps=STEPS, batch=256, lr=2e-3)
flow = flow.double().eval()
r = log_prob_three_ways(flow, two_moons(5, seed=9).double())
print("log p(x), nflows     :", r["nflows"].numpy().round(6))
print("log p(x), triangular :", r["triangular"].numpy().round(6))
print("log p(x), dense      :", r["dense"].numpy().round(6))
print("largest entry above the diagonal in any coupling layer:", float(r["off_triangle"]))
print("integral of p over [-8, 8]^2:", round(grid_integral(flow, 8.0, 300), 4))

# %%
import matplotlib.pyplot as plt

t = torch.linspace(-3, 3, 150, dtype=torch.float64)
xx, yy = torch.meshgrid(t, t, indexing="ij")
with torch.no_grad():
    dens = flow.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).exp().reshape(150, 150)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
axes[0].plot(losses)
axes[0].set(xlabel="step", ylabel="negative log-likelihood")
axes[1].imshow(dens.T.numpy(), origin="lower", extent=(-3, 3, -3, 3), cmap="magma")
axes[1].set_title("exact p(x)")
plt.show()

# %% [markdown]
# ## A generator has no density
#
# $G(z) = (z, \sin 2z)$ maps $\mathbb R$ onto a curve in $\mathbb R^2$. A kernel density estimate at a
# point on the curve grows like $h^{-(2-1)}$ as the bandwidth $h$ shrinks: there is no finite $p(x)$.

# %%
from companion.theory.flows import curve_generator, kde_slope

n = 20_000 if MODE == "tiny" else 200_000
pts = curve_generator(torch.randn(n, 1))
slope, values = kde_slope(pts, curve_generator(torch.tensor([[0.3]]))[0], [0.2, 0.1, 0.05, 0.025])
print(f"slope of log KDE against log h: {slope:.2f} (theory: -1)")
