"""Chapter 3, restoration with a GAN prior: reference solutions."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


# --8<-- [start:inpainting_loss]
def inpainting_loss(pred: Tensor, observed: Tensor, mask: Tensor) -> Tensor:
    r"""Per-image L1 data term over the known pixels only.

    $$\ell_i = \frac{\sum_p m_{ip} |\hat x_{ip} - y_{ip}|}{\sum_p m_{ip}}$$

    Args:
        pred: (N, C, H, W) restored images G(z).
        observed: (N, C, H, W) observation (values at missing pixels are meaningless).
        mask: (N, 1, H, W) or (1, 1, H, W), 1 = known, 0 = missing.

    Returns:
        (N,) one loss per image.
    """
    m = mask.expand_as(pred)
    return ((pred - observed).abs() * m).flatten(1).sum(1) / m.flatten(1).sum(1)


# --8<-- [end:inpainting_loss]


# --8<-- [start:downsample]
def downsample(x: Tensor, factor: int) -> Tensor:
    """Super-resolution's degradation A: the mean of each factor x factor block.

    Args:
        x: (N, C, H, W), H and W divisible by ``factor``.

    Returns:
        (N, C, H / factor, W / factor).
    """
    return F.avg_pool2d(x, factor)


def downsample_adjoint(y: Tensor, factor: int) -> Tensor:
    r"""The adjoint $A^\top$ of `downsample`: $\langle A x, y\rangle = \langle x, A^\top y\rangle$ for all x, y.

    Args:
        y: (N, C, h, w).

    Returns:
        (N, C, h * factor, w * factor).
    """
    return F.interpolate(y, scale_factor=factor, mode="nearest") / factor**2


# --8<-- [end:downsample]
