"""Degraded images as a user has them: read observations, build their operator, write results alike.

`companion restore --observed` restores what it is given, without a clean original:

* ``denoise``: noisy images (``.npy`` float, any values, or PNGs); ``--sigma`` is the noise level
  if known, else estimated from the images (`estimate_sigma`, Donoho's wavelet MAD estimator via
  scikit-image) and printed. The solver's data term does not need it; it is used to judge the
  fit: a residual far above sigma means the generator cannot represent the images.
* ``inpaint``: images with a missing region and a mask: a ``.npy`` array (1 = known, 0 =
  missing; one (H, W) mask for all images or (N, H, W) one per image), a PNG (black = missing,
  white = known) or a folder of PNG masks named like the images.
* ``superres``: low-resolution images; ``--factor`` is inferred from the sizes when omitted.
* ``cs``: measurements (N, m) ``.npy`` and the sensing matrix (m, D) ``.npy``, as written by
  ``companion degrade``.

Images whose size differs from what the generator needs are centre-cropped to a square and
resized (bilinear, antialiased); colour images for a grey generator are converted to grey
(ITU-R 601 luma); each such change is reported. A grey image for a colour generator is refused.
Outputs take the input's format: a folder of PNGs gives a folder of PNGs with the same names, a
``.npy`` gives a ``.npy``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from companion.errors import ConfigError, DataError
from companion.fsutil import atomic_write, check_output_dir
from companion.pixels import to_uint8, to_unit
from companion.restoration import AvgPoolDown, GaussianSensing, Identity, Mask, Operator, load_mask

__all__ = [
    "Observation",
    "degrade_to_files",
    "estimate_sigma",
    "load_observation",
    "read_named",
    "write_like",
]

LUMA = (0.299, 0.587, 0.114)


@dataclass
class Observation:
    """What `companion.restoration.restore` needs, read from the user's files.

    Attributes:
        y: The observation the solver matches: images (N, C, h, w) or measurements (N, m), float.
        op: The degradation that produced it.
        names: PNG file names (a folder input) or None (a ``.npy`` input).
        notes: What was changed or estimated, one phrase each (printed by the command).
        sigma: The noise level (given or estimated; denoising only).
    """

    y: Tensor
    op: Operator
    names: list[str] | None
    notes: list[str] = field(default_factory=list)
    sigma: float | None = None


def read_named(path: str | os.PathLike[str]) -> tuple[Tensor, list[str] | None]:
    """Images from a ``.npy`` (any float, or uint8) or a folder of PNGs, with the PNG names.

    Returns:
        (float tensor (N, C, H, W), uint8 data scaled to [0, 1]; names or None).

    Raises:
        DataError: missing, unreadable, not an image, empty, or PNGs of different sizes.
    """
    from companion.imageio import read_images, read_npy

    path = Path(path)
    if path.is_dir():
        x = read_images(path)
        names = sorted(p.name for p in path.iterdir() if p.suffix.lower() == ".png")
    elif path.suffix == ".npy":
        x = torch.from_numpy(np.ascontiguousarray(read_npy(path, (np.uint8, np.float32, np.float64), "use numbers")))
        names = None
    else:
        raise DataError(f"{path}: expected a .npy file or a folder of .png files")
    x = x.unsqueeze(1) if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[0] == 0:
        raise DataError(f"{path}: expected (N, C, H, W) or (N, H, W) images, got shape {tuple(x.shape)}")
    if x.is_floating_point() and x.numel() and float(x.max()) > 1 and torch.equal(x, x.round()):
        raise DataError(
            f"{path} holds whole numbers up to {float(x.max()):g} as floats, a 0..255 image: "
            "save it as uint8, or divide it by 255"
        )
    x = to_unit(x)
    if not torch.isfinite(x).all():
        raise DataError(f"{path} holds NaN or infinite values")
    return x, names


def _fit(x: Tensor, channels: int, side: int, notes: list[str], what: str) -> Tensor:
    """Convert channels and size to what the generator needs, saying what changed."""
    if x.shape[1] == 3 and channels == 1:
        x = sum(w * x[:, i : i + 1] for i, w in enumerate(LUMA))
        notes.append(f"{what}: colour converted to grey (ITU-R 601 luma)")
    elif x.shape[1] != channels:
        raise DataError(f"{what} have {x.shape[1]} channel(s) but the generator makes {channels}")
    h, w = x.shape[2:]
    if (h, w) != (side, side):
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        x = x[:, :, top : top + s, left : left + s]
        x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        notes.append(f"{what}: {h}x{w} centre-cropped to {s}x{s} and resized to {side}x{side}")
    return x


def estimate_sigma(images: Tensor) -> float:
    r"""Noise standard deviation of images, from their finest diagonal Haar wavelet coefficients.

    Donoho & Johnstone (1994): for white Gaussian noise of std $\sigma$ the diagonal detail
    coefficients $HH = \tfrac12(x_{2i,2j} - x_{2i,2j+1} - x_{2i+1,2j} + x_{2i+1,2j+1})$ are
    $\mathcal N(0, \sigma^2)$ plus a sparse image part, so $\hat\sigma = \mathrm{median}|HH| / 0.6745$
    (0.6745 is the median of $|\mathcal N(0, 1)|$). Averaged over the images.

    Args:
        images: (N, C, H, W) float.
    """
    x = images.detach().float()
    h, w = x.shape[2] // 2 * 2, x.shape[3] // 2 * 2
    x = x[:, :, :h, :w]
    hh = (x[:, :, 0::2, 0::2] - x[:, :, 0::2, 1::2] - x[:, :, 1::2, 0::2] + x[:, :, 1::2, 1::2]) / 2
    return float((hh.abs().flatten(1).median(1).values / 0.6745).mean())


def _mask(spec: str, names: list[str] | None, n: int, shape: tuple[int, int, int], notes: list[str]) -> Tensor:
    """A known-pixel mask (1 or N, 1, H, W) from a .npy, a PNG, or a folder of PNGs named like the images."""
    path = Path(spec)
    if not path.exists():
        raise DataError(f"--mask {path} does not exist")
    if path.suffix == ".npy":
        return load_mask(path, n, shape)
    from companion.imageio import read_images, read_png

    if path.is_dir():
        files = sorted(p.name for p in path.iterdir() if p.suffix.lower() == ".png")
        if names is not None and files != names:
            raise DataError(f"the masks in {path} must be named like the images ({len(names)} PNG files)")
        m = read_images(path).float()
    elif path.suffix.lower() == ".png":
        m = torch.from_numpy(read_png(path))[None].float()
    else:
        raise DataError(f"--mask {path}: expected a .npy file, a .png file or a folder of .png masks")
    if m.shape[1] != 1:
        m = m.mean(1, keepdim=True)
    if tuple(m.shape[2:]) != tuple(shape[1:]):
        raise DataError(f"the mask {path} is {tuple(m.shape[2:])}; the images are {tuple(shape[1:])}")
    if m.shape[0] not in (1, n):
        raise DataError(f"{path} holds {m.shape[0]} masks for {n} images")
    notes.append("mask: black = missing, white = known")
    return (m > 127).float()


def load_observation(
    task: str,
    path: str | os.PathLike[str],
    shape: tuple[int, int, int],
    *,
    sigma: float | None = None,
    mask: str | None = None,
    factor: int | None = None,
    matrix: str | None = None,
) -> Observation:
    """Read an observation for ``task`` and build its operator; validate everything, one line on error.

    Args:
        task: ``denoise``, ``inpaint``, ``superres`` or ``cs``.
        path: The observed images (or, for ``cs``, the measurements ``.npy``).
        shape: (C, H, W) the generator makes.
        sigma: Known noise level (denoising); None: estimated.
        mask: Mask file or folder (inpainting).
        factor: Downsampling factor (super-resolution); None: inferred from the sizes.
        matrix: Sensing matrix ``.npy`` (compressed sensing).

    Raises:
        ConfigError, DataError: anything that does not fit.
    """
    c, side, _ = shape
    notes: list[str] = []
    if task == "cs":
        from companion.imageio import read_npy

        if matrix is None:
            raise ConfigError("--task cs --observed needs --matrix (the (m, D) sensing matrix, e.g. from degrade)")
        y = torch.from_numpy(read_npy(path, (np.float32, np.float64), "use float measurements")).float()
        A = torch.from_numpy(read_npy(matrix, (np.float32, np.float64), "use a float matrix")).float()
        dim = c * side * side
        if A.ndim != 2 or A.shape[1] != dim:
            raise DataError(f"--matrix {matrix} has shape {tuple(A.shape)}; expected (m, {dim})")
        if y.ndim != 2 or y.shape[1] != A.shape[0]:
            raise DataError(f"{path} has shape {tuple(y.shape)}; expected (N, {A.shape[0]}) measurements")
        return Observation(y, GaussianSensing.from_matrix(shape, A), None, notes)
    x, names = read_named(path)
    if task == "denoise":
        x = _fit(x, c, side, notes, "images")
        if sigma is not None and not sigma >= 0:
            raise ConfigError(f"--sigma must be >= 0, got {sigma}")
        if sigma is None:
            sigma = estimate_sigma(x)
            notes.append(f"noise level estimated from the images: sigma = {sigma:.3f}")
        return Observation(x, Identity(shape, sigma=sigma), names, notes, sigma)
    if task == "inpaint":
        if mask is None:
            raise ConfigError("--task inpaint --observed needs --mask (a .npy, a .png or a folder of .png masks)")
        x = _fit(x, c, side, notes, "images")
        m = _mask(mask, names, x.shape[0], shape, notes)
        op = Mask(shape, m)
        return Observation(op(x), op, names, notes)
    if task == "superres":
        h = x.shape[2]
        if factor is None:
            if side % h or x.shape[2] != x.shape[3]:
                raise DataError(f"low-resolution images of {tuple(x.shape[2:])} do not divide {side}; pass --factor")
            factor = side // h
            notes.append(f"factor inferred from the sizes: {factor}")
        op = AvgPoolDown(shape, factor)
        return Observation(_fit(x, c, side // factor, notes, "low-resolution images"), op, names, notes)
    raise ConfigError(f"unknown task '{task}'")


def write_like(images: Tensor, out: str | os.PathLike[str], names: list[str] | None) -> Path:
    """Write images (N, C, H, W) in [0, 1] as the input was: a folder of PNGs named ``names``, or a .npy.

    Raises:
        OutputError: the output cannot be written.
    """
    from companion.imageio import write_npy

    out = Path(out)
    if names is None:
        return write_npy(images, out)
    from PIL import Image

    check_output_dir(out)
    arr = to_uint8(images).cpu().numpy()
    for name, im in zip(names, arr):
        pil = Image.fromarray(im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0))
        atomic_write(out / name, lambda f, pil=pil: pil.save(f, format="PNG"))
    return out


def degrade_to_files(op: Operator, y: Tensor, out: Path, fmt: str) -> list[Path]:
    """Save an observation as a user would have it: images (PNG folder or .npy), mask, or measurements + matrix."""
    from companion.imageio import write_npy

    check_output_dir(out)
    written: list[Path] = []
    if isinstance(op, GaussianSensing):
        written.append(write_npy(y, out / "measurements.npy", as_images=False))
        written.append(write_npy(op.matrix, out / "matrix.npy", as_images=False))
        return written
    names = [f"{i:04d}.png" for i in range(y.shape[0])]
    if fmt == "png":
        written.append(write_like(y, out / "observed", names))
    else:
        written.append(write_npy(y, out / "observed.npy", as_images=False))
    if isinstance(op, Mask):
        m = op.mask.expand(y.shape[0], *op.mask.shape[1:]) if op.mask.shape[0] == 1 else op.mask
        if fmt == "png":
            written.append(write_like(m, out / "masks", names))
        else:
            written.append(write_npy(m[:, 0], out / "mask.npy", as_images=False))
    return written
