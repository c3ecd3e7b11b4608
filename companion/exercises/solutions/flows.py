"""Part II.1, flows: reference solutions."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


# --8<-- [start:coupling_forward]
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
    xm = x * mask
    s, t = s_net(xm) * (1 - mask), t_net(xm) * (1 - mask)
    return xm + (1 - mask) * (x * torch.exp(s) + t), s.sum(1)


def coupling_inverse(
    y: Tensor, mask: Tensor, s_net: Callable[[Tensor], Tensor], t_net: Callable[[Tensor], Tensor]
) -> Tensor:
    """The exact inverse of `coupling_forward`: x from y (the masked half tells s and t).

    Args:
        y: (N, D).

    Returns:
        x (N, D).
    """
    ym = y * mask
    s, t = s_net(ym) * (1 - mask), t_net(ym) * (1 - mask)
    return ym + (1 - mask) * (y - t) * torch.exp(-s)


# --8<-- [end:coupling_forward]


# --8<-- [start:affine_log_prob]
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
    z = (x - b) / a
    return -0.5 * z**2 - 0.5 * math.log(2 * math.pi) - math.log(abs(a))


# --8<-- [end:affine_log_prob]


# --8<-- [start:bits_per_dim]
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
    return -log_prob / (dim * math.log(2)) + 8.0


# --8<-- [end:bits_per_dim]


# --8<-- [start:actnorm_forward]
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
    b, c, h, w = x.shape
    y = x * log_scale.exp().view(1, c, 1, 1) + shift.view(1, c, 1, 1)
    return y, (h * w * log_scale.sum()).expand(b)


# --8<-- [end:actnorm_forward]


# --8<-- [start:squeeze]
def squeeze(x: Tensor) -> Tensor:
    r"""Trade space for channels: each 2x2 block of pixels becomes 4 channels.

    $y_{b,\,4c + 2i + j,\,h,\,w} = x_{b,\,c,\,2h + i,\,2w + j}$ for $i, j \in \{0, 1\}$: a permutation of
    the entries, so its log-determinant is 0.

    Args:
        x: (B, C, H, W) with H and W even.

    Returns:
        (B, 4C, H/2, W/2).
    """
    b, c, h, w = x.shape
    return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(y: Tensor) -> Tensor:
    """The inverse of `squeeze`: (B, 4C, H, W) -> (B, C, 2H, 2W)."""
    b, c4, h, w = y.shape
    c = c4 // 4
    return y.view(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c, 2 * h, 2 * w)


# --8<-- [end:squeeze]
