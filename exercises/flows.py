"""II.1 Flows and exact likelihood: exercises. Replace each `raise NotImplementedError` with your answer.

Check your answers with:  companion exercises check flows
The reference solutions are on the chapter's page (collapsed) and in companion/exercises/solutions/.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def coupling_forward(
    x: Tensor, mask: Tensor, s_net: Callable[[Tensor], Tensor], t_net: Callable[[Tensor], Tensor]
) -> tuple[Tensor, Tensor]:
    r"""RealNVP's affine coupling, forward: the masked half passes, the other half is scaled and shifted.

    $$y = m \odot x + (1 - m) \odot \big(x \odot e^{s(m \odot x)} + t(m \odot x)\big),\qquad
    \log|\det J| = \sum_i (1 - m_i)\, s(m \odot x)_i$$

    Args:
        x: (N, D).
        mask: (D,) of 0/1; 1 = passes unchanged.
        s_net, t_net: (N, D) -> (N, D) scale and shift networks (their outputs at masked
            positions are ignored).

    Returns:
        y (N, D) and log|det dy/dx| (N,).
    """
    raise NotImplementedError


def coupling_inverse(
    y: Tensor, mask: Tensor, s_net: Callable[[Tensor], Tensor], t_net: Callable[[Tensor], Tensor]
) -> Tensor:
    """The exact inverse of `coupling_forward`: x from y (the masked half tells s and t).

    Args:
        y: (N, D).

    Returns:
        x (N, D).
    """
    raise NotImplementedError


def affine_log_prob(x: Tensor, a: float, b: float) -> Tensor:
    r"""Exact log-density of the one-layer flow $x = a z + b$, $z \sim \mathcal N(0, 1)$, by change of variables.

    $$\log p(x) = \log \mathcal N\!\Big(\frac{x - b}{a}\Big) - \log |a|
    = -\frac12\Big(\frac{x - b}{a}\Big)^2 - \frac12 \log 2\pi - \log|a|$$

    The inverse is $z = (x - b)/a$ and its derivative $1/a$; the density picks up $|dz/dx| = 1/|a|$
    (an absolute value: a flow may flip the axis).

    Args:
        x: (N,) points.
        a: Non-zero scale (may be negative).
        b: Shift.

    Returns:
        (N,) log p(x).
    """
    raise NotImplementedError


def bits_per_dim(log_prob: Tensor, dim: int) -> Tensor:
    r"""Bits per dimension of 8-bit images from a flow's log-density of their dequantised versions.

    The flow models $x_c = (x + u) / 256 \in (0, 1)^D$ with $u \sim U[0, 1)^D$, so its density lives on
    a space 256 times smaller per axis than the grey levels. The bound on the discrete code length is

    $$\text{bpd} = \frac{-\ln p(x_c)}{D \ln 2} + \log_2 256 .$$

    Args:
        log_prob: (N,) the flow's $\ln p(x_c)$, in nats.
        dim: D, dimensions per image (784 for 28x28).

    Returns:
        (N,) bits per dimension.
    """
    raise NotImplementedError


def actnorm_forward(x: Tensor, log_scale: Tensor, shift: Tensor) -> tuple[Tensor, Tensor]:
    r"""Glow's ActNorm: a per-channel affine map of images, and its log-determinant.

    $$y_{bchw} = e^{s_c} x_{bchw} + t_c, \qquad \log|\det J| = H W \sum_c s_c$$

    (every one of the $H W$ pixels of channel c is scaled by $e^{s_c}$).

    Args:
        x: (B, C, H, W).
        log_scale: (C,) the $s_c$.
        shift: (C,) the $t_c$.

    Returns:
        y (B, C, H, W) and log|det dy/dx| (B,) (the same for every image).
    """
    raise NotImplementedError


def squeeze(x: Tensor) -> Tensor:
    r"""Trade space for channels: each 2x2 block of pixels becomes 4 channels.

    $y_{b,\,4c + 2i + j,\,h,\,w} = x_{b,\,c,\,2h + i,\,2w + j}$ for $i, j \in \{0, 1\}$: a permutation of
    the entries, so its log-determinant is 0.

    Args:
        x: (B, C, H, W) with H and W even.

    Returns:
        (B, 4C, H/2, W/2).
    """
    raise NotImplementedError


def unsqueeze(y: Tensor) -> Tensor:
    """The inverse of `squeeze`: (B, 4C, H, W) -> (B, C, 2H, 2W)."""
    raise NotImplementedError
