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
