"""1. GAN losses: exercises. Replace each `raise NotImplementedError` with your answer.

Check your answers with:  companion exercises check gan_losses
The reference solutions are on the chapter's page (collapsed) and in companion/exercises/solutions/.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion.pixels import to_uint8


def d_loss_bce(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The discriminator's binary cross-entropy, from logits.

    $$L_D = -\frac1B\sum_i \log\sigma(a^{real}_i) - \frac1B\sum_i \log(1 - \sigma(a^{fake}_i))$$

    Args:
        real_logits: (B,) logits of D on real images.
        fake_logits: (B,) logits of D on generated images.

    Returns:
        A scalar, finite for any finite logits (use softplus: log sigma(a) = -softplus(-a)).
    """
    raise NotImplementedError


def g_loss_minimax(fake_logits: Tensor) -> Tensor:
    r"""The original (saturating) generator loss, minimised by G: $\frac1B\sum_i \log(1 - \sigma(a_i))$.

    Args:
        fake_logits: (B,) logits of D on generated images.

    Returns:
        A scalar (<= 0).
    """
    raise NotImplementedError


def g_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    r"""The non-saturating generator loss: $-\frac1B\sum_i \log\sigma(a_i)$.

    Args:
        fake_logits: (B,) logits of D on generated images.

    Returns:
        A scalar (>= 0).
    """
    raise NotImplementedError


def discriminator_step(D: nn.Module, G: nn.Module, opt_d: torch.optim.Optimizer, real: Tensor, z: Tensor) -> Tensor:
    """One update of D on a real batch and a generated batch (non-saturating GAN's BCE).

    G must receive no gradient from this step: the generated batch is detached before D sees it.

    Args:
        D: Maps images to (B,) logits.
        G: Maps (B, d) latents to images.
        opt_d: D's optimiser.
        real: (B, C, H, W) real images.
        z: (B, d) latents.

    Returns:
        The detached D loss.
    """
    raise NotImplementedError


def fixed_latent_grid(G: nn.Module, z: Tensor, nrow: int) -> np.ndarray:
    """The images of one fixed latent batch, tiled into a grid (no padding), as uint8.

    G is evaluated in eval mode without gradients (BatchNorm's running statistics must not move),
    and left in the mode it was in.

    Args:
        G: Maps (B, d) to (B, 1, H, W) images in [0, 1].
        z: (B, d) latents, B a multiple of ``nrow``.
        nrow: Images per row.

    Returns:
        (rows * H, nrow * W) uint8 array, image k at row k // nrow, column k % nrow.
    """
    raise NotImplementedError
