"""User images in and out: a .npy array or a folder of PNGs, checked against what a generator makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from companion.errors import DataError
from companion.pixels import to_uint8, to_unit

__all__ = ["check_images", "read_images", "read_npy", "read_png", "write_npy"]


def read_images(path: str | Path) -> Tensor:
    """Load images as a tensor, uint8 or float, (N, C, H, W) or (N, H, W) as stored.

    Args:
        path: A ``.npy`` file (uint8, or float in [0, 1]) or a folder of ``.png`` files
            (read in sorted name order; grey stays one channel, colour becomes RGB).

    Raises:
        DataError: missing path, unreadable file, an empty folder, or PNGs of differing sizes.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise DataError(f"{path} holds no .png files")
        arrays = [read_png(f) for f in files]
        if len({a.shape for a in arrays}) != 1:
            raise DataError(f"the PNG files in {path} differ in size or channels")
        return torch.from_numpy(np.stack(arrays))
    if path.suffix != ".npy":
        raise DataError(f"{path}: expected a .npy file or a folder of .png files")
    arr = read_npy(path, (np.uint8, np.float32, np.float64), "use uint8 or float in [0, 1]")
    return torch.from_numpy(np.ascontiguousarray(arr))


def read_png(path: str | Path) -> np.ndarray:
    """One PNG as uint8 (C, H, W): grey (and palette, 16-bit, grey+alpha) as one channel, colour as RGB.

    Raises:
        DataError: the file is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L") if img.mode in ("L", "1", "I;16", "LA", "P") else img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def read_npy(path: str | Path, dtypes: tuple[type, ...], hint: str) -> np.ndarray:
    """Load a plain numeric ``.npy`` array (never a pickle) of one of ``dtypes``.

    Raises:
        DataError: unreadable, a pickled (object) array, or another dtype; ``hint`` says what to pass.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "allow_pickle" in reason or "Object arrays" in reason:
            reason = "it holds Python objects (a pickle), which are refused"
        raise DataError(f"cannot read {path}: {reason}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.type not in dtypes:
        raise DataError(f"{path}: dtype {getattr(arr, 'dtype', type(arr).__name__)} not supported; {hint}")
    return arr


def write_npy(array: Tensor, path: str | Path, as_images: bool = True) -> Path:
    """Save an array as ``.npy``, atomically.

    Args:
        array: Images (N, C, H, W), uint8 0..255 or float in [0, 1] (`companion.pixels`: the
            dtype says which), stored as uint8 (the book's one exchange format); or any tensor
            stored as float32 with ``as_images=False`` (latents, measurements).
        path: Output file ending in ``.npy``.

    Raises:
        OutputError: the file cannot be written.
    """
    from companion.fsutil import atomic_write, check_output_file

    path = check_output_file(path, ".npy")
    arr = to_uint8(array).cpu().numpy() if as_images else array.detach().float().cpu().numpy()
    atomic_write(path, lambda f: np.save(f, arr))
    return path


def check_images(images: Tensor, shape: tuple[int, int, int], what: str = "images") -> Tensor:
    """Validate and convert user images to float (N, C, H, W) in [0, 1] matching G's output shape.

    Accepts uint8 (0..255) or float in [0, 1]; (N, H, W) is read as one channel.

    Raises:
        DataError: empty, wrong size or channels, or float values outside [0, 1].
    """
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or images.shape[0] == 0:
        raise DataError(f"{what} must be a non-empty (N, C, H, W) or (N, H, W) array, got shape {tuple(images.shape)}")
    if tuple(images.shape[1:]) != tuple(shape):
        raise DataError(f"{what} have shape {tuple(images.shape[1:])} per image but the generator makes {tuple(shape)}")
    if images.dtype == torch.uint8:
        return to_unit(images)
    if not images.is_floating_point():
        raise DataError(f"{what}: dtype {images.dtype} is neither uint8 (0..255) nor float in [0, 1]")
    images = images.float()
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise DataError(
            f"{what}: float values must lie in [0, 1] (found {float(images.min()):.3g} to "
            f"{float(images.max()):.3g}); pass uint8 for 0..255"
        )
    return images
