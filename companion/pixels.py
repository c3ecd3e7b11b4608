"""The book's one convention for images that cross a module boundary.

An image array is in exactly one of two representations, and its **dtype says which**:

* ``uint8``: grey levels 0..255, as stored (files, datasets, ``companion sample``'s output,
  the fixed batch of every epoch);
* floating point: intensities in [0, 1], as computed (models, losses, metrics, restoration).

Conversions decide by dtype, never by value, so a uint8 array cannot be scaled a second time
(the bug this module exists for: ``companion sample`` once multiplied generator images that
were already 0..255 by 255 again, and wrote black-and-white digits). Any other dtype (int64,
bool, ...) is refused: its scale is unknowable.

Quantisation rounds to the nearest grey level: ``round(255 * clamp(x, 0, 1))``, so a float
image survives ``to_unit(to_uint8(x))`` within half a grey level (1/510), and a uint8 image
survives ``to_uint8(to_unit(x))`` exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["to_uint8", "to_unit"]


def _tensor(images: Tensor | np.ndarray) -> Tensor:
    t = torch.as_tensor(images)
    if t.dtype != torch.uint8 and not t.is_floating_point():
        raise TypeError(f"images must be uint8 (0..255) or floating point in [0, 1], got {t.dtype}")
    return t


def to_unit(images: Tensor | np.ndarray) -> Tensor:
    """Images as float32 in [0, 1]: uint8 divided by 255, floats passed through (as float32).

    Args:
        images: Any shape; uint8 0..255 or floating point (taken to be in [0, 1] already).

    Returns:
        A float32 tensor of the same shape on the same device (a new tensor for uint8 input).

    Raises:
        TypeError: another dtype.
    """
    t = _tensor(images)
    return t.float().div_(255) if t.dtype == torch.uint8 else t.float()


def to_uint8(images: Tensor | np.ndarray) -> Tensor:
    """Images as uint8 0..255: uint8 passed through unchanged, floats quantised.

    A float image is clamped to [0, 1] (a noisy observation may leave it) and rounded:
    ``round(255 * clamp(x, 0, 1))``.

    Args:
        images: Any shape; uint8 0..255 or floating point in [0, 1].

    Returns:
        A uint8 tensor of the same shape on the same device.

    Raises:
        TypeError: another dtype.
    """
    t = _tensor(images)
    if t.dtype == torch.uint8:
        return t
    return t.detach().float().clamp(0, 1).mul_(255).round_().to(torch.uint8)
