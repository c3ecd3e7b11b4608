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
# # 3. Restoration with a GAN prior, as a notebook
#
# Heavy noise ($\sigma = 0.5$) and a 14x14 hole, restored through the generator (chapter 2's
# solver through the degradation) and by the best classical method of each task.

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
    "tiny": dict(n=6, steps=20, restarts=2, dataset="synthetic"),
    "cpu": dict(n=24, steps=300, restarts=8, dataset="mnist"),
    "gpu": dict(n=200, steps=500, restarts=8, dataset="mnist"),
}[MODE]

# %%
from pathlib import Path

from companion.config import make_config
from companion.experiment import load_generator, run_training
from companion.rundir import is_run

chapter1 = Path("runs/gan_losses/full/nonsaturating/seed0/ckpt.pt")
if MODE != "tiny" and chapter1.is_file():
    ckpt = chapter1
else:
    out = Path("runs/notebooks/restoration") / MODE / "gan"
    extra = {"batch_size": 64, "n_fixed": 16} if MODE == "tiny" else {"train_subset": 20000}
    cfg = make_config(None, dataset=SETTINGS["dataset"], epochs=2, fid_samples=0, **extra)
    run_training(cfg, out, overwrite=is_run(out), progress=False)
    ckpt = out / "ckpt.pt"
device = "cuda" if torch.cuda.is_available() else "cpu"
G, spec, _ = load_generator(ckpt, device)

# %%
from companion.baselines import biharmonic_inpaint, tv_denoise
from companion.data import load_dataset
from companion.inversion import InversionConfig
from companion.metrics import psnr
from companion.restoration import make_task, restore

x = load_dataset(SETTINGS["dataset"], "test").float_images(slice(0, SETTINGS["n"])).to(device)
cfg = InversionConfig(steps=SETTINGS["steps"], restarts=SETTINGS["restarts"], patience=0)
results = {}
for task, option, baseline in (("denoise", 0.5, lambda y, op: tv_denoise(y.cpu(), 0.4)),
                               ("box", 14, lambda y, op: biharmonic_inpaint(y.cpu(), op))):  # fmt: skip
    op = make_task(task, option, len(x), spec.image_shape)
    y = op.degrade(x, seed=1)
    gan = restore(G, y, op, cfg).images
    classic = baseline(y, op).to(device)
    results[task] = (op.view(y), classic, gan)
    print(f"{task:>7}: degraded {float(psnr(op.view(y), x).mean()):5.2f} dB | classical "
          f"{float(psnr(classic, x).mean()):5.2f} dB | GAN prior {float(psnr(gan, x).mean()):5.2f} dB")  # fmt: skip

# %%
import matplotlib.pyplot as plt

from companion.artifacts import image_grid

k = min(6, SETTINGS["n"])
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (task, (deg, classic, gan)) in zip(axes, results.items()):
    stack = torch.cat([t[:k].cpu().clamp(0, 1) for t in (deg, classic, gan, x)])
    ax.imshow(image_grid(stack, nrow=k, padding=1), cmap="gray")
    ax.set_yticks([14 + 29 * i for i in range(4)], ["degraded", "classical", "GAN prior", "clean"])
    ax.set_xticks([])
    ax.set_title(task)
plt.show()
