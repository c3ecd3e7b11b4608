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
# # 2. GAN inversion, as a notebook
#
# Find $z$ with $G(z) \approx x$ for held-out digits: an encoder (one forward pass), latent
# optimisation with restarts and the sphere prior, and the hybrid that starts the optimisation at
# the encoder's answer. Uses chapter 1's trained generator when it is there.

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
    "tiny": dict(n=8, steps=20, restarts=2, encoder_epochs=1, dataset="synthetic"),
    "cpu": dict(n=32, steps=300, restarts=8, encoder_epochs=2, dataset="mnist"),
    "gpu": dict(n=200, steps=500, restarts=8, encoder_epochs=10, dataset="mnist"),
}[MODE]
SETTINGS

# %% [markdown]
# ## A generator
#
# Chapter 1's 20-epoch non-saturating generator if it exists, else a short run here.

# %%
from pathlib import Path

from companion.config import make_config
from companion.experiment import load_generator, run_training
from companion.rundir import is_run

chapter1 = Path("runs/gan_losses/full/nonsaturating/seed0/ckpt.pt")
if MODE != "tiny" and chapter1.is_file():
    ckpt = chapter1
else:
    out = Path("runs/notebooks/inversion") / MODE / "gan"
    extra = {"batch_size": 64, "n_fixed": 16} if MODE == "tiny" else {"train_subset": 20000}
    cfg = make_config(None, dataset=SETTINGS["dataset"], epochs=2, fid_samples=0, **extra)
    run_training(cfg, out, overwrite=is_run(out), progress=False)
    ckpt = out / "ckpt.pt"
device = "cuda" if torch.cuda.is_available() else "cpu"
G, spec, _ = load_generator(ckpt, device)
print("generator:", ckpt)

# %% [markdown]
# ## Three inversions of the same held-out digits

# %%
from companion.data import load_dataset
from companion.encoder import EncoderConfig, load_encoder, train_encoder
from companion.inversion import InversionConfig, fit_latent
from companion.metrics import psnr
from companion.rundir import prepare_run_dir

test = load_dataset(SETTINGS["dataset"], "test")
x = test.float_images(slice(0, SETTINGS["n"])).to(device)
enc_dir = Path("runs/notebooks/inversion") / MODE / "encoder"
prepare_run_dir(enc_dir, resume=False, overwrite=is_run(enc_dir))
train = load_dataset(SETTINGS["dataset"], "train").subset(20000)
train_encoder(G, train.images.to(device), EncoderConfig(epochs=SETTINGS["encoder_epochs"], device=device),
              enc_dir, progress=False)  # fmt: skip
E = load_encoder(enc_dir / "ckpt.pt", G, device)
with torch.no_grad():
    z_enc = E(x)
    rec_enc = G(z_enc).clamp(0, 1)
opt = fit_latent(G, x, InversionConfig(steps=SETTINGS["steps"], restarts=SETTINGS["restarts"], patience=0))
hyb = fit_latent(G, x, InversionConfig(steps=SETTINGS["steps"], restarts=1, lr=0.03, patience=0), z0=z_enc)
for name, rec in (("encoder", rec_enc), ("optimisation", opt.images), ("hybrid", hyb.images)):
    print(f"{name:>13}: mean PSNR {float(psnr(rec, x).mean()):5.2f} dB")

# %%
import matplotlib.pyplot as plt

from companion.artifacts import image_grid

k = min(8, SETTINGS["n"])
stack = torch.cat([t[:k].cpu() for t in (x, rec_enc, opt.images, hyb.images)])
plt.figure(figsize=(8, 4.4))
plt.imshow(image_grid(stack, nrow=k, padding=1), cmap="gray")
plt.yticks([14 + 29 * i for i in range(4)], ["input", "encoder", "optimisation", "hybrid"])
plt.xticks([])
plt.show()
