r"""Classical restoration baselines, the methods a reader would otherwise use.

* Denoising: total variation (Chambolle, 2004), non-local means (Buades et al., 2005) and a
  Gaussian blur, from scikit-image. Their strength is tuned on a separate validation slice.
* Inpainting: biharmonic inpainting (Damelin & Hoang, 2018), scikit-image.
* Super-resolution: bicubic interpolation.
* Compressed sensing: the minimum-norm least-squares image $A^+ y$, and the Lasso in an
  orthonormal 2-D DCT basis $\Psi$, $\min_c \tfrac12\lVert A\Psi c - y\rVert^2 + \alpha\lVert c\rVert_1$,
  solved by FISTA (Beck & Teboulle, 2009), with $\alpha$ tuned on the validation slice.

All functions take and return float images (N, 1, H, W) in [0, 1] (restored images are clipped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from companion.restoration import AvgPoolDown, GaussianSensing, Mask

__all__ = [
    "DENOISE_GRIDS",
    "bicubic_upsample",
    "biharmonic_inpaint",
    "dct_lasso_cs",
    "dct_matrix",
    "gaussian_denoise",
    "least_squares_cs",
    "nlm_denoise",
    "tune",
    "tv_denoise",
]

#: Strength grids searched on the validation slice for each denoiser.
DENOISE_GRIDS: dict[str, Sequence[float]] = {
    "total variation": (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6),
    "non-local means": (0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8),
    "Gaussian blur": (0.3, 0.5, 0.7, 1.0, 1.3, 1.7),
}


def _per_image(fn: Callable[[np.ndarray], np.ndarray], x: Tensor) -> Tensor:
    arr = x.detach().cpu().numpy()
    out = np.stack([fn(img[0])[None] for img in arr])
    return torch.from_numpy(out).float().clamp(0, 1)


def tv_denoise(y: Tensor, weight: float) -> Tensor:
    """Chambolle's total-variation denoising with the given weight."""
    from skimage.restoration import denoise_tv_chambolle

    return _per_image(lambda im: denoise_tv_chambolle(im, weight=weight), y)


def nlm_denoise(y: Tensor, h: float, sigma: float = 0.0) -> Tensor:
    """Non-local means (3x3 patches, 7x7 search) with filter strength h."""
    from skimage.restoration import denoise_nl_means

    return _per_image(
        lambda im: denoise_nl_means(im, h=h, sigma=sigma, patch_size=3, patch_distance=3, fast_mode=True), y
    )


def gaussian_denoise(y: Tensor, sigma: float) -> Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels."""
    from skimage.filters import gaussian

    return _per_image(lambda im: gaussian(im, sigma=sigma), y)


def biharmonic_inpaint(y: Tensor, op: Mask) -> Tensor:
    """Biharmonic inpainting of the missing pixels (mask 0)."""
    from skimage.restoration import inpaint_biharmonic

    masks = op.mask.expand(y.shape[0], -1, -1, -1).cpu().numpy()
    arr = y.detach().cpu().numpy()
    out = np.stack([inpaint_biharmonic(arr[i, 0], masks[i, 0] < 0.5)[None] for i in range(len(arr))])
    return torch.from_numpy(out).float().clamp(0, 1)


def bicubic_upsample(y: Tensor, op: AvgPoolDown) -> Tensor:
    """Bicubic interpolation back to full size."""
    return F.interpolate(y, scale_factor=op.factor, mode="bicubic", align_corners=False).clamp(0, 1)


def least_squares_cs(y: Tensor, op: GaussianSensing) -> Tensor:
    """The minimum-norm solution A^+ y."""
    return op.view(y)


def dct_matrix(n: int) -> Tensor:
    """Orthonormal DCT-II matrix (n, n): rows are the basis vectors."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


def dct_lasso_cs(y: Tensor, op: GaussianSensing, alpha: float, iters: int = 300) -> Tensor:
    """FISTA for min_c 0.5 |A Psi^T c - y|^2 + alpha |c|_1; returns Psi^T c (the image)."""
    side = op.shape[1]
    d1 = dct_matrix(side)
    psi = torch.kron(d1, d1).float()  # 2-D DCT on flattened images: coefficients c = psi @ x
    B = op.matrix @ psi.T  # (m, D): measurements of each DCT basis image
    L = float(torch.linalg.matrix_norm(B, ord=2)) ** 2
    c = torch.zeros(y.shape[0], B.shape[1])
    v, t = c.clone(), 1.0
    for _ in range(iters):
        grad = (v @ B.T - y) @ B
        c_new = v - grad / L
        c_new = torch.sign(c_new) * (c_new.abs() - alpha / L).clamp_min(0)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        v = c_new + (t - 1) / t_new * (c_new - c)
        c, t = c_new, t_new
    return (c @ psi).reshape(-1, *op.shape).clamp(0, 1)


def tune(method: Callable[[Tensor, float], Tensor], y_val: Tensor, x_val: Tensor, grid: Sequence[float]) -> float:
    """The strength in ``grid`` with the best mean PSNR on the validation pair (y_val, x_val)."""
    from companion.metrics import psnr

    scores = [float(psnr(method(y_val, s), x_val).mean()) for s in grid]
    return float(grid[int(np.argmax(scores))])
