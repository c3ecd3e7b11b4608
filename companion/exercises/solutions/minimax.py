"""Part II.3, the order of min and max: reference solutions."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


# --8<-- [start:pure_values]
def pure_values(payoff: np.ndarray) -> tuple[float, float]:
    """(max_x min_y f, min_y max_x f) of a payoff matrix ``payoff[x, y]``; x (rows) maximises, y minimises.

    Args:
        payoff: (X, Y) array, not necessarily square.
    """
    return float(payoff.min(axis=1).max()), float(payoff.max(axis=0).min())


# --8<-- [end:pure_values]


# --8<-- [start:optimal_d]
def optimal_d(p_data: Tensor, p_g: Tensor) -> Tensor:
    r"""The optimal discriminator $D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))$ on a grid.

    Args:
        p_data, p_g: (n,) probabilities (each sums to 1).

    Returns:
        (n,) values in [0, 1]; 1/2 where both are 0.
    """
    total = p_data + p_g
    return torch.where(total > 0, p_data / total.clamp_min(1e-300), torch.full_like(total, 0.5))


def gan_value(p_data: Tensor, p_g: Tensor, d: Tensor) -> Tensor:
    r"""$V(D, G) = \sum_i p_{data,i} \log D_i + \sum_i p_{g,i} \log(1 - D_i)$ with $0 \log 0 = 0$.

    Args:
        p_data, p_g: (n,) probabilities.
        d: (n,) discriminator values in [0, 1].

    Returns:
        A scalar tensor.
    """
    t1 = torch.where(p_data > 0, p_data * d.log(), torch.zeros_like(d))
    t2 = torch.where(p_g > 0, p_g * (1 - d).log(), torch.zeros_like(d))
    return t1.sum() + t2.sum()


# --8<-- [end:optimal_d]
