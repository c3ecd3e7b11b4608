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
