"""Figures and images drawn from run folders: grids, GIFs, labelled epoch figures, curves.

Drawing lives here and only here: trainers write numbers (``metrics.jsonl``) and arrays
(``fixed/epoch_XXX.npy``), and `render_run` turns a run folder into its figures, so a chapter
can redraw everything without retraining.

Matplotlib uses the non-interactive Agg backend through its object API (``Figure``), so
nothing here needs a display or touches pyplot's global state. Figures are saved with a
transparent background and mid-grey text and axes (`save_figure`), which read on the book's
light and dark themes alike.
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

from companion.fsutil import atomic_write
from companion.pixels import to_uint8, to_unit
from companion.runlog import RunLog, read_jsonl

__all__ = [
    "INK",
    "epoch_ticks",
    "image_grid",
    "new_figure",
    "plot_curves",
    "read_jsonl",
    "render_run",
    "save_epoch_figure",
    "save_figure",
    "save_gif",
    "save_grid",
    "save_labelled_grid",
    "smooth",
    "write_json",
]

#: Text, tick and axis colour: mid grey reads on white and on the dark theme's slate.
INK = "#7f7f7f"


def image_grid(images: Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile images into one uint8 array.

    Args:
        images: (B, C, H, W) float in [0, 1] (or uint8).
        nrow: Images per row.

    Returns:
        (H', W', C) uint8 array (C = 1 squeezed away for grey images).
    """
    from torchvision.utils import make_grid

    t = torch.as_tensor(images).detach().cpu()
    x = to_unit(t)
    grid = make_grid(x.clamp(0, 1), nrow=nrow, padding=padding, pad_value=pad_value)
    arr = to_uint8(grid.permute(1, 2, 0)).numpy()
    return arr[:, :, 0] if x.shape[1] == 1 else arr


def _save_png(img: Image.Image, path: Path) -> Path:
    atomic_write(path, lambda f: img.save(f, format="PNG"))
    return path


def save_grid(images: Tensor, path: str | os.PathLike[str], nrow: int = 8, scale: int = 2) -> Path:
    """Save a grid PNG, upscaled ``scale`` times with nearest neighbour so 28x28 digits stay crisp."""
    arr = image_grid(images, nrow)
    img = Image.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save_png(img, path)


def save_labelled_grid(images: Tensor, path: str | os.PathLike[str], label: str, nrow: int | None = None) -> Path:
    """A grid of images (upscaled 2x) under a one-line caption, on white: what a reader opens first.

    Args:
        images: (N, C, H, W) uint8 or float in [0, 1].
        label: The caption (what drew the images: model, latent law, seed).
        nrow: Images per row (default: a square-ish grid, at most 16 across).
    """
    from PIL import ImageDraw, ImageFont

    n = images.shape[0]
    nrow = nrow or min(16, max(1, round(n**0.5)))
    grid = Image.fromarray(image_grid(images, nrow, padding=2, pad_value=1.0))
    grid = grid.resize((grid.width * 2, grid.height * 2), Image.NEAREST).convert("RGB")
    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        font = ImageFont.load_default()
    # Wrap the caption to the grid's width (a narrow grid of 4 images still shows all of it).
    words, lines, line = label.split(), [], ""
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for w in words:
        trial = f"{line} {w}".strip()
        if line and probe.textlength(trial, font=font) > max(grid.width - 12, 120):
            lines.append(line)
            line = w
        else:
            line = trial
    lines.append(line)
    width = max(grid.width, int(max(probe.textlength(t, font=font) for t in lines)) + 12)
    canvas = Image.new("RGB", (width, grid.height + 8 + 18 * len(lines)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, t in enumerate(lines):
        draw.text((6, 4 + 18 * i), t, fill="black", font=font)
    canvas.paste(grid, (0, 8 + 18 * len(lines)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save_png(canvas, path)


def save_gif(frames: Sequence[str | os.PathLike[str]], path: str | os.PathLike[str], ms_per_frame: int = 500) -> Path:
    """Animate PNG frames (e.g. one grid per epoch) into a looping GIF; the last frame lingers."""
    images = []
    for f in frames:
        with Image.open(f) as im:
            images.append(im.convert("L" if im.mode == "L" else "RGB"))
    durations = [ms_per_frame] * (len(images) - 1) + [ms_per_frame * 4]
    path = Path(path)

    def write(f) -> None:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)

    atomic_write(path, write)
    return path


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON atomically (temp file + rename), pretty-printed."""
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def smooth(values: Sequence[float], window: int = 25) -> list[float]:
    """Trailing moving average: entry i is the mean of values[max(0, i - window + 1) : i + 1]."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.6):
    """A Figure and its axes array, without pyplot (safe in threads and tests), in the book's style."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _ink(fig) -> None:
    """Grey text, ticks and spines everywhere (legend text included; its frame stays readable)."""
    for ax in fig.axes:
        for spine in ax.spines.values():
            spine.set_color(INK)
        ax.tick_params(colors=INK, which="both")
        for item in (ax.title, ax.xaxis.label, ax.yaxis.label):
            item.set_color(INK)
        leg = ax.get_legend()
        if leg is not None:
            leg.get_frame().set_alpha(0.6)
            for t in leg.get_texts():
                t.set_color("#555555")
    if fig._suptitle is not None:
        fig._suptitle.set_color(INK)


def save_figure(fig, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Save a Figure as PNG with a transparent background and grey ink (readable in light and dark themes)."""
    import io

    _ink(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, transparent=True)
    path = Path(path)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
    return path


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
    return save_figure(fig, path)


def save_epoch_figure(
    frames: Sequence[tuple[int, np.ndarray | Tensor]],
    path: str | os.PathLike[str],
    *,
    per_frame: int = 16,
    cols: int = 5,
    title: str = "",
) -> Path:
    """The fixed latent batch after every epoch, each small grid labelled with its epoch number.

    Args:
        frames: ``(epoch, images)`` pairs, images (N, C, H, W) uint8 or float in [0, 1]; the
            first ``per_frame`` images of each are shown (a square grid).
        path: Output PNG.
        per_frame: Images per small grid (a square number reads best).
        cols: Small grids per row.
        title: Figure title.
    """
    rows = -(-len(frames) // cols)
    side = max(1, round(per_frame**0.5))
    fig, axes = new_figure(cols, rows, 1.9, 2.1)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (epoch, images) in zip(axes.flat, frames):
        grid = image_grid(torch.as_tensor(np.asarray(images))[:per_frame], nrow=side, padding=1)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"epoch {epoch}", fontsize=10)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def epoch_ticks(ax, steps: list[dict[str, Any]], marks: Sequence[int] = (1, 5, 10, 15, 20)) -> None:
    """Mark epoch ends on a per-step x axis: faint vertical lines, and the ``marks`` labelled on top."""
    ends: dict[int, int] = {}
    for r in steps:
        ends[r["epoch"]] = r["step"]
    for s in ends.values():
        ax.axvline(s, color=INK, lw=0.4, alpha=0.35)
    sec = ax.secondary_xaxis("top")
    shown = [e for e in ends if e in marks]
    sec.set_xticks([ends[e] for e in shown], [f"ep {e}" for e in shown])
    sec.tick_params(colors=INK)


def render_run(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw every figure of a run folder from its data; returns the files written.

    GAN runs: ``grids/epoch_XXX.png`` and ``progress.gif`` from ``fixed/``, ``epochs.png`` (the
    labelled per-epoch figure) and ``losses.png`` (per-step D and G losses, smoothed over 25
    steps, with epoch ticks). Encoder runs: ``losses.png`` (per-epoch reconstruction and latent
    losses).
    """
    run = Path(run_dir)
    try:
        config = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    kind = config.get("kind", "gan")
    log = RunLog(run / "metrics.jsonl")
    written: list[Path] = []
    if kind == "flow":
        recs = log.read("epoch")
        if recs:
            series = {"training (dequantised batches)": ([r["epoch"] for r in recs], [r["bpd"] for r in recs])}
            held = [r for r in recs if "test_bpd" in r]
            if held:
                series["held-out images"] = ([r["epoch"] for r in held], [r["test_bpd"] for r in held])
            written.append(
                plot_curves(
                    series,
                    run / "losses.png",
                    xlabel="epoch",
                    ylabel="bits per dimension",
                    title="flow training (epoch means)",
                )
            )
        return written
    if kind == "encoder":
        recs = log.read("epoch")
        if recs:
            lam = config.get("config", {}).get("latent_weight", 1.0)
            written.append(
                plot_curves(
                    {
                        "reconstruction MSE": ([r["epoch"] for r in recs], [r["recon_mse"] for r in recs]),
                        "latent MSE x lambda": ([r["epoch"] for r in recs], [lam * r["latent_mse"] for r in recs]),
                    },
                    run / "losses.png",
                    xlabel="epoch",
                    ylabel="loss (epoch mean)",
                    title="encoder training",
                    logy=True,
                )
            )
        return written
    frames = [(int(p.stem.split("_")[1]), np.load(p)) for p in sorted((run / "fixed").glob("epoch_*.npy"))]
    for epoch, images in frames:
        written.append(save_grid(torch.from_numpy(images), run / "grids" / f"epoch_{epoch:03d}.png"))
    if frames:
        grids = [run / "grids" / f"epoch_{e:03d}.png" for e, _ in frames]
        written.append(save_gif(grids, run / "progress.gif"))
        loss = config.get("config", {}).get("loss", "")
        title = (
            "GLO: the first 16 training digits, reconstructed after each epoch"
            if kind == "glo"
            else f"{loss}: the same 16 latents after each epoch"
        )
        written.append(save_epoch_figure(frames, run / "epochs.png", title=title))
    steps = log.read("step")
    if steps and kind == "glo":
        written.append(
            plot_curves(
                {
                    name: ([r["step"] for r in steps], smooth([r[key] for r in steps]))
                    for key, name in (("l1", "L1"), ("lap1", "Laplacian pyramid L1"))
                },
                run / "losses.png",
                xlabel="step",
                ylabel="loss (moving average over 25 steps)",
                title="GLO reconstruction losses",
                logy=True,
            )
        )
    elif steps:
        fig, axes = new_figure(1, 1, 6.0, 3.6)
        ax = axes[0, 0]
        x = [r["step"] for r in steps]
        ax.plot(x, smooth([r["d_loss"] for r in steps]), label="D loss", lw=1.2)
        ax.plot(x, smooth([r["g_loss"] for r in steps]), label="G loss", lw=1.2)
        ax.set(xlabel="step", ylabel="loss (moving average over 25 steps)")
        ax.set_title(f"{config.get('config', {}).get('loss', '')} loss", pad=20)
        epoch_ticks(ax, steps)
        ax.grid(alpha=0.3)
        ax.legend()
        written.append(save_figure(fig, run / "losses.png"))
    return written
