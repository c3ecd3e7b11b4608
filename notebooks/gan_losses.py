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
# # 1. GAN losses, as a notebook
#
# The course report's 28x28 DCGAN trained with the three losses (minimax, non-saturating, least
# squares), with FID and the fixed latent batch after every epoch. The chapter's page shows the full
# experiment (20 epochs, 3 seeds); this notebook runs a small version you can change.

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

SETTINGS = {
    "tiny": dict(dataset="synthetic", epochs=1, batch_size=64, fid_samples=256, n_fixed=16),
    "cpu": dict(dataset="mnist", epochs=3, train_subset=20000, fid_samples=1000),
    "gpu": dict(dataset="mnist", epochs=20, fid_samples=5000),
}[MODE]
SETTINGS

# %% [markdown]
# ## Train the three losses
#
# `run_training` is what `companion train` runs: the same data, models, trainer and run folder.

# %%
from pathlib import Path

from companion.config import make_config
from companion.experiment import run_training
from companion.rundir import is_run

RUNS = Path("runs") / "notebooks" / "gan_losses" / MODE
LOSSES = ("minimax", "nonsaturating", "lsgan")
for loss in LOSSES:
    cfg = make_config(None, loss=loss, device="auto", **SETTINGS)
    out = RUNS / loss
    summary = run_training(cfg, out, overwrite=is_run(out), progress=False)
    print(f"{loss:>14}: final FID {summary['final'].get('fid', float('nan')):8.1f}, {summary['train_seconds']:.0f} s")

# %% [markdown]
# ## FID per epoch, and what the discriminator thinks of the fakes

# %%
import matplotlib.pyplot as plt

from companion.runlog import RunLog

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for loss in LOSSES:
    epochs = RunLog(RUNS / loss / "metrics.jsonl").read("epoch")
    steps = RunLog(RUNS / loss / "metrics.jsonl").read("step")
    axes[0].plot([r["epoch"] for r in epochs], [r["fid"] for r in epochs], "o-", label=loss)
    axes[1].plot([r["step"] for r in steps], [r["d_fake"] for r in steps], label=loss, lw=0.8)
axes[0].set(xlabel="epoch", ylabel="FID (classifier features)", yscale="log")
axes[1].set(xlabel="step", ylabel="D(G(z)) (raw score for LSGAN)", yscale="log")
for ax in axes:
    ax.legend()
plt.show()

# %% [markdown]
# In the first steps the minimax discriminator drives D(G(z)) towards 0, where the minimax
# generator's gradient $-\sigma(a)$ vanishes (Part II derives it); the non-saturating loss keeps a
# gradient of about $-1$ there. One short run is an anecdote: the chapter's page counts the stall over
# three seeds.
#
# ## The fixed latent batch after every epoch

# %%
from IPython.display import Image, display

for loss in LOSSES:
    display(Image(filename=str(RUNS / loss / "epochs.png")))
