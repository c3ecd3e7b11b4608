r"""Precision and recall of samples: which half of FID a sampler loses.

FID folds two failures into one number: samples that look like no real image (fidelity) and real
images that no sample looks like (diversity). The improved precision and recall of Kynkäänniemi,
Karras, Laine, Lehtinen & Aila (NeurIPS 2019) measure them apart. Each set of features stands for a
manifold, the union of balls around its points whose radii reach each point's $k$-th nearest
neighbour in its own set, $\mathrm{NN}_k$:

$$
\mathrm{precision} = \frac1M \sum_{j=1}^{M}
  \mathbb 1\big[\exists i:\ \lVert f_j - r_i\rVert \le \mathrm{NN}_k(r_i)\big],
\qquad
\mathrm{recall} = \frac1N \sum_{i=1}^{N}
  \mathbb 1\big[\exists j:\ \lVert r_i - f_j\rVert \le \mathrm{NN}_k(f_j)\big],
$$

for real features $r_1..r_N$ and generated ones $f_1..f_M$: precision is the share of samples inside
the real manifold, recall the share of real images inside the samples' manifold. The paper's $k = 3$.
The book measures both in the same 128-d classifier features as its FID (`companion.metrics`), so a
mode-dropping sampler shows as recall lost at the same precision.
"""

from __future__ import annotations

import torch
from torch import Tensor

from companion.errors import CompanionError

__all__ = ["classifier_features", "knn_radii", "precision_recall"]


def knn_radii(x: Tensor, k: int = 3, chunk: int = 2048) -> Tensor:
    """Each point's distance to its k-th nearest neighbour in the same set, itself excluded: (N, D) -> (N,)."""
    if not 0 < k < x.shape[0]:
        raise CompanionError(f"k must be between 1 and {x.shape[0] - 1} for {x.shape[0]} points, got {k}")
    # the (k + 1)-th smallest distance: the smallest is the point's zero distance to itself
    return torch.cat([torch.cdist(c, x).kthvalue(k + 1, dim=1).values for c in x.split(chunk)])


def _inside(points: Tensor, centres: Tensor, radii: Tensor, chunk: int) -> Tensor:
    """For each point (P, D), whether it lies in some ball (centres (C, D), radii (C,)): (P,) bool."""
    return torch.cat([(torch.cdist(p, centres) <= radii[None]).any(1) for p in points.split(chunk)])


def precision_recall(real: Tensor, fake: Tensor, k: int = 3, chunk: int = 2048) -> dict[str, float]:
    """Improved precision and recall of fake features (M, D) against real ones (N, D), float64; values in [0, 1]."""
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise CompanionError(f"features must be (N, D) and (M, D) with one D, got {tuple(real.shape)} and "
                             f"{tuple(fake.shape)}")  # fmt: skip
    real, fake = real.double(), fake.double()
    precision = _inside(fake, real, knn_radii(real, k, chunk), chunk)
    recall = _inside(real, fake, knn_radii(fake, k, chunk), chunk)
    return {"precision": float(precision.double().mean()), "recall": float(recall.double().mean())}


@torch.no_grad()
def classifier_features(classifier: torch.nn.Module, images: Tensor, batch: int = 500) -> Tensor:
    """The book's FID features (a `DigitClassifier`'s 128-d penultimate layer) of uint8 or [0, 1] images: (N, 128)."""
    from companion.pixels import to_unit

    device = next(classifier.parameters()).device
    was = classifier.training
    classifier.eval()
    out = torch.cat([classifier.features(to_unit(x.to(device)).float()).cpu() for x in images.split(batch)])
    classifier.train(was)
    return out
