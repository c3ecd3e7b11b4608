r"""What the comparison of the three generators needs besides the models: trivial baselines, paired spreads, tuning.

* `nearest_training`: the nearest training image to each query (L2): the trivial "inversion" every
  generator must beat, and a memorisation check.
* `histogram_samples`: draws from the per-pixel histogram model (each pixel independently from its
  training distribution of grey levels; 1.69 bits/dim on the MNIST test digits): the trivial sampler.
* `paired`: the mean of per-image differences with a 95% interval, $\bar d \pm 1.96\, s_d / \sqrt n$:
  two priors restoring the *same* images are compared image by image, which removes the spread
  between easy and hard digits that unpaired intervals would carry.
* `tune_prior`: a prior's weight $\gamma$ chosen on validation images (never the reported ones), the
  value with the best mean PSNR on the grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["histogram_samples", "nearest_training", "paired", "tune_prior"]


@torch.no_grad()
def nearest_training(queries: Tensor, train: Tensor, batch: int = 500) -> Tensor:
    """For each query image, the training image nearest in L2 (both float in [0, 1] or uint8). Same shape as queries.

    Shapes: queries (N, C, H, W), train (M, C, H, W) -> (N, C, H, W) float in [0, 1].
    """
    from companion.pixels import to_unit

    q = to_unit(queries).flatten(1).float()
    t = to_unit(train).flatten(1).float()
    t_sq = t.square().sum(1)
    best = torch.empty(q.shape[0], dtype=torch.long)
    for start in range(0, q.shape[0], batch):
        chunk = q[start : start + batch]
        # |q - t|^2 = |q|^2 - 2 q.t + |t|^2; |q|^2 is the same for every t of a row
        best[start : start + batch] = (t_sq[None] - 2 * chunk @ t.T).argmin(1)
    return to_unit(train[best]).float()


def histogram_samples(train: Tensor, n: int, seed: int = 0) -> Tensor:
    """n images whose pixels are drawn independently from each pixel's training histogram. uint8 (n, C, H, W).

    The empirical distribution of pixel i is its training column; drawing a random training row per pixel
    samples from it exactly.
    """
    g = torch.Generator().manual_seed(seed)
    flat = train.flatten(1)
    rows = torch.randint(0, flat.shape[0], (n, flat.shape[1]), generator=g)
    return flat.gather(0, rows).reshape(n, *train.shape[1:])


def paired(a: Tensor, b: Tensor) -> dict[str, float]:
    """Mean of ``a - b`` over images, its standard error and the 95% interval (normal approximation).

    Shapes: a, b (N,) per-image values of two methods on the same images.
    """
    d = (a - b).double()
    se = float(d.std() / math.sqrt(len(d))) if len(d) > 1 else math.inf
    mean = float(d.mean())
    return {"mean": mean, "se": se, "lo": mean - 1.96 * se, "hi": mean + 1.96 * se, "n": len(d)}


def tune_prior(
    prior: Any, op: Any, x_val: Tensor, y_val: Tensor, grid: Sequence[float], **budget: Any
) -> tuple[float, dict[float, float]]:
    """The prior weight of ``grid`` with the best mean PSNR on validation images; returns (best, {weight: PSNR}).

    Args:
        prior: A `companion.priors.Prior`.
        op: The degradation of the validation images.
        x_val: Clean validation images (N, C, H, W) in [0, 1]; ``y_val`` their observations.
        budget: Solver settings (steps, ...) applied on top of the prior's own.
    """
    from companion.metrics import psnr

    scores = {}
    for w in grid:
        cfg = prior.config(None, prior_weight=w, **budget)
        scores[w] = float(psnr(prior.restore(y_val, op, cfg).images, x_val).mean())
    return max(scores, key=scores.get), scores
