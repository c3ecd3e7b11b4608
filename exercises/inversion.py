"""2. GAN inversion: exercises. Replace each `raise NotImplementedError` with your answer.

Check your answers with:  companion exercises check inversion
The reference solutions are on the chapter's page (collapsed) and in companion/exercises/solutions/.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def project_to_sphere(z: Tensor) -> Tensor:
    r"""Scale each row of z to norm $\sqrt d$, where $\mathcal N(0, I_d)$ concentrates.

    Args:
        z: (N, d) latents (no zero rows).

    Returns:
        (N, d): $z_i \sqrt d / \lVert z_i \rVert$.
    """
    raise NotImplementedError


def invert(G: nn.Module, x: Tensor, *, steps: int = 300, restarts: int = 4, lr: float = 0.1, seed: int = 0) -> Tensor:
    r"""Latent optimisation with restarts and the sphere prior: $\min_z \mathrm{MSE}(G(z), x)$.

    Run ``restarts`` random starts per image as one batch (Adam, lr ``lr``, ``steps`` steps,
    z projected onto the sphere after every step) and keep, per image, the restart with the
    lowest final MSE. G is frozen (eval mode, no parameter gradients).

    Args:
        G: Maps (B, d) to (B, C, H, W); has ``latent_dim``.
        x: (N, C, H, W) target images in [0, 1].

    Returns:
        (N, d) the best latent per image.
    """
    raise NotImplementedError
