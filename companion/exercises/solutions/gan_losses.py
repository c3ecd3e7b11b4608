"""Chapter 1, GAN losses: reference solutions."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion.pixels import to_uint8


# --8<-- [start:d_loss_bce]
def d_loss_bce(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The discriminator's binary cross-entropy, from logits.

    $$L_D = -\frac1B\sum_i \log\sigma(a^{real}_i) - \frac1B\sum_i \log(1 - \sigma(a^{fake}_i))$$

    Args:
        real_logits: (B,) logits of D on real images.
        fake_logits: (B,) logits of D on generated images.

    Returns:
        A scalar, finite for any finite logits (use softplus: log sigma(a) = -softplus(-a)).
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


# --8<-- [end:d_loss_bce]


# --8<-- [start:g_loss_minimax]
def g_loss_minimax(fake_logits: Tensor) -> Tensor:
    r"""The original (saturating) generator loss, minimised by G: $\frac1B\sum_i \log(1 - \sigma(a_i))$.

    Args:
        fake_logits: (B,) logits of D on generated images.

    Returns:
        A scalar (<= 0).
    """
    return -F.softplus(fake_logits).mean()


# --8<-- [end:g_loss_minimax]


# --8<-- [start:g_loss_nonsaturating]
def g_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    r"""The non-saturating generator loss: $-\frac1B\sum_i \log\sigma(a_i)$.

    Args:
        fake_logits: (B,) logits of D on generated images.

    Returns:
        A scalar (>= 0).
    """
    return F.softplus(-fake_logits).mean()


# --8<-- [end:g_loss_nonsaturating]


# --8<-- [start:discriminator_step]
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
    fake = G(z)
    loss = d_loss_bce(D(real), D(fake.detach()))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


# --8<-- [end:discriminator_step]


# --8<-- [start:fixed_latent_grid]
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
    was_training = G.training
    G.eval()
    with torch.no_grad():
        x = G(z)
    G.train(was_training)
    b, _, h, w = x.shape
    img = to_uint8(x)[:, 0]  # the book's quantisation: round(255 * clamp(x, 0, 1))
    return img.reshape(b // nrow, nrow, h, w).permute(0, 2, 1, 3).reshape(b // nrow * h, nrow * w).numpy()


# --8<-- [end:fixed_latent_grid]
