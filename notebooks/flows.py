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

# %% [markdown]
# ## A Glow on 28x28 digits, and its exact bits per dimension
#
# The chapter's second page trains a Glow (`companion.models.glow`) on MNIST for 20 epochs. Here a
# small one trains for a moment (tiny: synthetic digits; cpu: a slice of MNIST), and scores held-out
# images in bits per dimension: the bound $\mathbb E_u[-\ln p(x_c)] / (784 \ln 2) + 8$ of the
# dequantised image's exact log-density. The per-pixel histogram is the baseline to beat.

# %%
import tempfile
from pathlib import Path

from companion.chapters.glow import histogram_bpd
from companion.data import load_dataset
from companion.density import make_flow_config, sample_flow, score_bpd
from companion.flowtrain import train_flow

dataset = "synthetic" if MODE == "tiny" else "mnist"
glow_cfg = make_flow_config(
    None,
    dataset=dataset,
    epochs={"tiny": 1, "cpu": 1, "gpu": 20}[MODE],
    depth={"tiny": 2, "cpu": 4, "gpu": 8}[MODE],
    hidden={"tiny": 8, "cpu": 32, "gpu": 64}[MODE],
    train_subset={"tiny": 0, "cpu": 10000, "gpu": 0}[MODE],
    warmup={"tiny": 10, "cpu": 100, "gpu": 500}[MODE],
    eval_images=500,
)
train_imgs = load_dataset(dataset, "train").subset(glow_cfg.train_subset).images
test_imgs = load_dataset(dataset, "test").images[:1000]
run_dir = Path(tempfile.mkdtemp())
summary = train_flow(glow_cfg, train_imgs, test_imgs, run_dir, progress=False)
from companion.density import load_flow

glow, spec, _ = load_flow(run_dir / "ckpt.pt")
bpd = score_bpd(glow, test_imgs, draws=1)
print(
    f"Glow: {summary['parameters']:,} parameters, {summary['epochs']} epoch(s), "
    f"{summary['train_seconds'] / 60:.1f} min; held-out bits/dim {float(bpd.mean()):.3f}"
)
print(f"per-pixel histogram baseline: {histogram_bpd(train_imgs, test_imgs):.3f} bits/dim")

# %%
samples = sample_flow(glow, 16, temperature=0.7)
fig, axes = plt.subplots(1, 16, figsize=(12, 1))
for ax, im in zip(axes, samples):
    ax.imshow(im[0], cmap="gray", vmin=0, vmax=255)
    ax.axis("off")
plt.show()
