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
# # 5. GLO, as a notebook
#
# The report's generator trained without a discriminator: one learned code per training digit,
# reconstruction by L1 + Laplacian-pyramid L1. Then the two ways to sample it (a Gaussian over the codes,
# GLANN's IMLE mapper), and what the Gaussian's density is a density of.

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
    "tiny": {"dataset": "synthetic", "epochs": 2, "subset": 0, "imle_epochs": 2},
    "cpu": {"dataset": "mnist", "epochs": 5, "subset": 10000, "imle_epochs": 10},
    "gpu": {"dataset": "mnist", "epochs": 50, "subset": 0, "imle_epochs": 30},
}[MODE]

# %%
import tempfile
from pathlib import Path

from companion.data import load_dataset
from companion.glo import make_glo_config, train_glo

cfg = make_glo_config(None, dataset=SETTINGS["dataset"], epochs=SETTINGS["epochs"], train_subset=SETTINGS["subset"])
train = load_dataset(cfg.dataset, "train").subset(cfg.train_subset).images
run_dir = Path(tempfile.mkdtemp())
summary = train_glo(cfg, train, run_dir, progress=False)
print(
    f"{summary['epochs']} epochs in {summary['train_seconds'] / 60:.1f} min; "
    f"reconstruction PSNR of the first training digits: {summary['final']['recon_psnr']:.2f} dB"
)

# %%
import matplotlib.pyplot as plt

from companion.checkpoint import GLO_FORMAT, load_checkpoint
from companion.experiment import generate, load_generator
from companion.latent_samplers import GaussianCodes, IMLEConfig, train_imle

G, _, _ = load_generator(run_dir / "ckpt.pt")
codes = load_checkpoint(run_dir / "ckpt.pt", GLO_FORMAT)["codes"]
print("every code on the sphere of radius 10:", bool((codes.norm(dim=1) - 10).abs().max() < 1e-3))
gauss = GaussianCodes.fit(codes)
mapper, history = train_imle(codes, IMLEConfig(epochs=SETTINGS["imle_epochs"]))
rows = {
    "reconstructions": generate(G, 12, 100, codes=lambda k, g: codes[:k]),
    "Gaussian over codes": generate(G, 12, 100, codes=gauss.sample),
    "IMLE mapper": generate(G, 12, 100, codes=mapper.sample),
}
fig, axes = plt.subplots(3, 12, figsize=(12, 3.2))
for r, (name, imgs) in enumerate(rows.items()):
    for c in range(12):
        axes[r, c].imshow(imgs[c, 0], cmap="gray", vmin=0, vmax=255)
        axes[r, c].axis("off")
    axes[r, 0].set_title(name, fontsize=8, loc="left")
plt.show()

# %% [markdown]
# ## A density over codes, not over images
#
# The Gaussian scores codes. The generator's Jacobian at a code is 784 x 100: its rank is at most 100, so
# its images fill a 100-dimensional surface in the 784-dimensional image space, with no density there.

# %%
J = torch.autograd.functional.jacobian(lambda z: G(z).flatten(), codes[:1]).reshape(784, 100)
sv = torch.linalg.svdvals(J.double())
print(f"Jacobian 784 x 100: {int((sv > 1e-6 * sv[0]).sum())} non-zero singular values of at most 100")
print("log-density of the first 5 training codes under the Gaussian:", gauss.log_density(codes[:5]).numpy().round(1))
