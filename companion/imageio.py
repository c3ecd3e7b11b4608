"""Reading user images for inversion and restoration: a .npy array or a folder of PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from companion.errors import DataError

__all__ = ["read_images", "write_npy"]


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
        from PIL import Image, UnidentifiedImageError

        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise DataError(f"{path} holds no .png files")
        arrays = []
        for f in files:
            try:
                with Image.open(f) as img:
                    arr = np.asarray(
                        img.convert("L") if img.mode in ("L", "1", "I;16", "LA", "P") else img.convert("RGB")
                    )
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"cannot read {f}: {exc}") from None
            arrays.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        if len({a.shape for a in arrays}) != 1:
            raise DataError(f"the PNG files in {path} differ in size or channels")
        return torch.from_numpy(np.stack(arrays))
    if path.suffix != ".npy":
        raise DataError(f"{path}: expected a .npy file or a folder of .png files")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    if arr.dtype not in (np.uint8, np.float32, np.float64):
        raise DataError(f"{path}: dtype {arr.dtype} not supported; use uint8 or float in [0, 1]")
    return torch.from_numpy(np.ascontiguousarray(arr))


def write_npy(images: Tensor, path: str | Path) -> Path:
    """Save (N, C, H, W) images in [0, 1] as uint8 .npy (the book's one exchange format)."""
    path = Path(path)
    if path.suffix != ".npy":
        raise DataError(f"--out must end in .npy, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy())
    return path
