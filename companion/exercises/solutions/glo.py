"""Chapter 5, GLO: reference solutions."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


# --8<-- [start:project_codes]
def project_codes(z: Tensor) -> Tensor:
    r"""GLO's projection of codes onto the sphere of radius $\sqrt d$, row by row.

    $$z \mapsto \sqrt d \, \frac{z}{\lVert z \rVert_2}$$

    Args:
        z: (N, d) codes, no row zero.

    Returns:
        (N, d), every row of norm $\sqrt d$ and the same direction.
    """
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True))


# --8<-- [end:project_codes]


# --8<-- [start:lap1_loss]
def lap1_loss(x: Tensor, y: Tensor, levels: int, blur: Callable[[Tensor], Tensor]) -> Tensor:
    r"""The Laplacian pyramid L1 distance of two image batches, per image.

    Pyramid: $G_0 = x$; for $j < J$: $L_j = G_j - \mathrm{blur}(G_j)$ and
    $G_{j+1} = \mathrm{avgpool}_{2\times2}(\mathrm{blur}(G_j))$; then $L_J = G_J$ (the residual).
    The loss is $\sum_{j=0}^{J} \operatorname{mean}_\text{pixels} |L_j(x) - L_j(y)|$.

    Args:
        x, y: (B, C, H, W).
        levels: J, band-pass levels (the residual comes on top).
        blur: The low-pass filter, (B, C, H, W) -> (B, C, H, W).

    Returns:
        (B,) the loss of each image.
    """

    def pyramid(img: Tensor) -> list[Tensor]:
        out = []
        for _ in range(levels):
            low = blur(img)
            out.append(img - low)
            img = F.avg_pool2d(low, 2)
        return [*out, img]

    return sum((a - b).abs().flatten(1).mean(1) for a, b in zip(pyramid(x), pyramid(y)))


# --8<-- [end:lap1_loss]


# --8<-- [start:imle_step]
def imle_match(codes: Tensor, samples: Tensor) -> tuple[Tensor, Tensor]:
    r"""One IMLE matching step: each code's nearest sample, and the loss that pulls it there.

    $$\mathrm{nn}(i) = \arg\min_j \lVert s_j - z_i \rVert_2, \qquad
    \mathcal L = \frac1N \sum_i \lVert s_{\mathrm{nn}(i)} - z_i \rVert_2^2$$

    Args:
        codes: (N, d) the training codes z_i.
        samples: (M, d) the mapper's outputs s_j = T(e_j).

    Returns:
        The indices nn (N,) and the loss (a scalar, differentiable in ``samples``).
    """
    with torch.no_grad():
        nn_idx = torch.cdist(codes, samples).argmin(1)
    return nn_idx, (samples[nn_idx] - codes).square().sum(1).mean()


# --8<-- [end:imle_step]
