r"""What a likelihood ranks: out-of-distribution scores, their AUROC, and the input-complexity correction.

A flow trained on one dataset gives every image a number, its bits per dimension. Using it to flag
images from elsewhere (out of distribution, OOD) assumes that foreign images get *worse* (higher)
bits/dim. Nalisnick et al. (2019) showed that this fails: a flow trained on Fashion-MNIST gives
MNIST digits *better* bits/dim than its own test images. Serra et al. (2020) traced it to input
complexity: simple images (mostly black background) are cheap for any model, and proposed

$$
S(x) = \text{bpd}_\text{model}(x) - L(x) / D ,
$$

with $L(x)$ the code length in bits of a generic lossless compressor (here PNG at its highest
compression) and $D$ the number of pixels: how much better the model does than a compressor
that knows nothing about the data.

The **AUROC** of a score that is meant to be larger for OOD images is the probability that a random
OOD image scores higher than a random in-distribution one (ties count half): 1 is perfect
separation, 0.5 is chance, below 0.5 the score ranks the wrong way round.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import Tensor

from companion.pixels import to_uint8

__all__ = ["auroc", "complexity_corrected", "png_bits"]


def auroc(inside: Tensor, outside: Tensor) -> float:
    """P(score(outside) > score(inside)) + P(equal) / 2, from the ranks (Mann-Whitney U), exact.

    Args:
        inside: (N,) scores of in-distribution images.
        outside: (M,) scores of out-of-distribution images (a good score puts them higher).
    """
    a = np.asarray(inside, dtype=np.float64)
    b = np.asarray(outside, dtype=np.float64)
    allv = np.concatenate([a, b])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    # average ranks over ties (1-based)
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[len(a) :].sum() - len(b) * (len(b) + 1) / 2
    return float(u / (len(a) * len(b)))


def png_bits(images: Tensor) -> Tensor:
    """L(x): the size in bits of each image as a PNG at the highest compression (zlib level 9).

    Args:
        images: (N, C, H, W), uint8 or float in [0, 1] (quantised to 8 bits first).

    Returns:
        (N,) float64 code lengths in bits (the whole file, its headers included).
    """
    from PIL import Image

    arr = to_uint8(images).cpu().numpy()
    out = torch.empty(arr.shape[0], dtype=torch.float64)
    for i, im in enumerate(arr):
        buf = io.BytesIO()
        Image.fromarray(im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0)).save(buf, format="PNG", compress_level=9)
        out[i] = 8 * buf.getbuffer().nbytes
    return out


# --8<-- [start:complexity]
def complexity_corrected(bpd: Tensor, images: Tensor) -> Tensor:
    """S(x) = bpd(x) - L(x) / D (Serra et al., 2020): bits/dim the model needs beyond a generic compressor's."""
    dim = images[0].numel()
    return bpd.double() - png_bits(images) / dim


# --8<-- [end:complexity]
