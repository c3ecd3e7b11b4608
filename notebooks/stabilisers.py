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
# # 4. How far a 28x28 GAN can go, as a notebook
#
# The report's setup (chapter 1's non-saturating DCGAN) against the chapter's combination: the hinge
# loss, and samples from an exponential moving average (EMA) of G's weights. Every run logs FID
# through the average and through the raw generator, so one run of the combination also shows the
# hinge loss alone. The chapter's page has the ablation of every technique over three seeds; this
# notebook runs a small version you can change, and looks inside spectral normalisation.

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
    "tiny": dict(dataset="synthetic", epochs=2, batch_size=64, fid_samples=256, n_fixed=16),
    "cpu": dict(dataset="mnist", epochs=4, train_subset=20000, fid_samples=1000),
    "gpu": dict(dataset="mnist", epochs=20, fid_samples=5000),
}[MODE]
SETTINGS

# %% [markdown]
# ## Train the report's setup and the combination
#
# The combination is the preset `better`: a few switches on the same trainer as chapter 1.

# %%
from pathlib import Path

from companion.config import PRESETS, make_config
from companion.experiment import run_training
from companion.rundir import is_run

SWITCHES = {k: v for k, v in PRESETS["better"].items() if k not in ("epochs", "fid_samples")}
print("the combination's switches:", SWITCHES)
RUNS = Path("runs") / "notebooks" / "stabilisers" / MODE
CONFIGS = {"report setup": {}, "better": SWITCHES}
for name, switches in CONFIGS.items():
    cfg = make_config(None, device="auto", **SETTINGS, **switches)
    out = RUNS / name.replace(" ", "_")
    summary = run_training(cfg, out, overwrite=is_run(out), progress=False)
    print(f"{name:>13}: final FID {summary['final'].get('fid', float('nan')):8.1f}, {summary['train_seconds']:.0f} s")

# %% [markdown]
# ## FID per epoch: the report's setup, the hinge loss, and the hinge loss sampled through the EMA
#
# `fid_raw` is the combination's own generator (the hinge loss alone, same training); `fid` samples
# through the average. Their difference is a paired measurement: same run, same latents.

# %%
import matplotlib.pyplot as plt

from companion.runlog import RunLog

logs = {name: RunLog(RUNS / name.replace(" ", "_") / "metrics.jsonl").read("epoch") for name in CONFIGS}
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([r["epoch"] for r in logs["report setup"]], [r["fid"] for r in logs["report setup"]], "o-",
        label="report setup (non-saturating)")  # fmt: skip
ax.plot([r["epoch"] for r in logs["better"]], [r["fid_raw"] for r in logs["better"]], "s--", label="hinge loss (raw G)")
ax.plot([r["epoch"] for r in logs["better"]], [r["fid"] for r in logs["better"]], "s-", label="hinge loss, EMA of G")
ax.set(xlabel="epoch", ylabel="FID (classifier features)", yscale="log")
ax.legend()
plt.show()
for r in logs["better"]:
    print(f"epoch {r['epoch']}: EMA - raw = {r['fid'] - r['fid_raw']:+.1f} FID")

# %% [markdown]
# One run of each is an anecdote: the chapter's page gives three seeds. With few epochs the average
# still remembers early generators (its warm-up keeps that short: $\beta_t = \min(0.999, (1+t)/(10+t))$).
#
# ## Inside spectral normalisation
#
# `apply_spectral_norm` wraps every weight of D; after a few power iterations (one per forward pass in
# training mode) the largest singular value of each normalised weight is 1.

# %%
from companion.models import ArchSpec, build_gan
from companion.stabilisers import apply_spectral_norm

_, D = build_gan(ArchSpec("report28", 1, 100))
before = {n: float(torch.linalg.matrix_norm(p.detach().flatten(1), 2)) for n, p in D.named_parameters() if p.dim() > 1}
apply_spectral_norm(D).train()
with torch.no_grad():
    for _ in range(20):
        D(torch.rand(8, 1, 28, 28))
after = [float(torch.linalg.matrix_norm(m.weight.detach().flatten(1), 2)) for m in D.modules()
         if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]  # fmt: skip
for (name, s), t in zip(before.items(), after):
    print(f"{name:>20}: largest singular value {s:6.3f} before, {t:.4f} after")

# %% [markdown]
# ## The last fixed batch of each run, the same latents

# %%
import numpy as np

from companion.artifacts import image_grid

fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, name in zip(axes, CONFIGS):
    last = sorted((RUNS / name.replace(" ", "_") / "fixed").glob("epoch_*.npy"))[-1]
    ax.imshow(image_grid(np.load(last)[:16], nrow=4, padding=1), cmap="gray", vmin=0, vmax=255)
    ax.set_title(f"{name}, epoch {int(last.stem.split('_')[-1])}")
    ax.axis("off")
plt.show()
