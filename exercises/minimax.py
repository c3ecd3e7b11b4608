"""II.3 The order of min and max: exercises. Replace each `raise NotImplementedError` with your answer.

Check your answers with:  companion exercises check minimax
The reference solutions are on the chapter's page (collapsed) and in companion/exercises/solutions/.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def pure_values(payoff: np.ndarray) -> tuple[float, float]:
    """(max_x min_y f, min_y max_x f) of a payoff matrix ``payoff[x, y]``; x (rows) maximises, y minimises.

    Args:
        payoff: (X, Y) array, not necessarily square.
    """
    raise NotImplementedError


def optimal_d(p_data: Tensor, p_g: Tensor) -> Tensor:
    r"""The optimal discriminator $D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))$ on a grid.

    Args:
        p_data, p_g: (n,) probabilities (each sums to 1).

    Returns:
        (n,) values in [0, 1]; 1/2 where both are 0.
    """
    raise NotImplementedError


def gan_value(p_data: Tensor, p_g: Tensor, d: Tensor) -> Tensor:
    r"""$V(D, G) = \sum_i p_{data,i} \log D_i + \sum_i p_{g,i} \log(1 - D_i)$ with $0 \log 0 = 0$.

    Args:
        p_data, p_g: (n,) probabilities.
        d: (n,) discriminator values in [0, 1].

    Returns:
        A scalar tensor.
    """
    raise NotImplementedError
