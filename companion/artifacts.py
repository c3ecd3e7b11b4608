"""Images and plots written into a run folder: grids, GIFs, curves.

Matplotlib uses the non-interactive Agg backend through its object API
(``Figure``), so nothing here needs a display or touches pyplot's global state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

__all__ = ["image_grid", "new_figure", "plot_curves", "read_jsonl", "save_gif", "save_grid", "write_json"]


def image_grid(images: Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile images into one uint8 array.

    Args:
        images: (B, C, H, W) float in [0, 1] (or uint8).
        nrow: Images per row.

    Returns:
        (H', W', C) uint8 array (C = 1 squeezed away for grey images).
    """
    from torchvision.utils import make_grid

    x = images.detach().float().cpu()
    if images.dtype == torch.uint8:
        x = x / 255
    grid = make_grid(x.clamp(0, 1), nrow=nrow, padding=padding, pad_value=pad_value)
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return arr[:, :, 0] if images.shape[1] == 1 else arr


def save_grid(images: Tensor, path: str | os.PathLike[str], nrow: int = 8, scale: int = 2) -> Path:
    """Save a grid PNG, upscaled ``scale`` times with nearest neighbour so 28x28 digits stay crisp."""
    arr = image_grid(images, nrow)
    img = Image.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def save_gif(frames: Sequence[str | os.PathLike[str]], path: str | os.PathLike[str], ms_per_frame: int = 500) -> Path:
    """Animate PNG frames (e.g. one grid per epoch) into a looping GIF; the last frame lingers."""
    images = [Image.open(f).convert("L" if Image.open(f).mode == "L" else "RGB") for f in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [ms_per_frame * 4]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON atomically (temp file + rename), pretty-printed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of a JSON-lines file (an absent file has none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.6):
    """A Figure and its axes array, without pyplot (safe in threads and tests)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def plot_curves(
    series: dict[str, tuple[Iterable[float], Iterable[float]]],
    path: str | os.PathLike[str],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    logy: bool = False,
) -> Path:
    """One line per named (x, y) series, saved as PNG."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    for name, (x, y) in series.items():
        ax.plot(list(x), list(y), label=name, lw=1.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    return Path(path)
