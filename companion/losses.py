r"""The three GAN objectives of chapter 1, computed from discriminator logits.

Notation: the discriminator returns a logit $a = \mathrm{logit}\,D(x)$, so
$D(x) = \sigma(a)$. Because $\log\sigma(a) = -\mathrm{softplus}(-a)$ and
$\log(1-\sigma(a)) = -\mathrm{softplus}(a)$, every log-probability below is a
softplus of a logit: finite for any finite logit, where ``Sigmoid`` followed by
``BCELoss`` returns ``inf``/clamped values once $\sigma(a)$ rounds to 0 or 1.

Every function takes logits of shape ``(B,)`` and returns a scalar mean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LOSSES",
    "GANLoss",
    "bce_discriminator_loss",
    "get_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "minimax_generator_loss",
    "nonsaturating_generator_loss",
]


# --8<-- [start:bce]
def bce_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Discriminator loss of the original GAN (Goodfellow et al., 2014).

    $$
    L_D = -\mathbb{E}_x[\log D(x)] - \mathbb{E}_z[\log(1 - D(G(z)))]
    = \mathbb{E}[\mathrm{softplus}(-a_{real})] + \mathbb{E}[\mathrm{softplus}(a_{fake})]
    $$

    Args:
        real_logits: (B,) logits of D on data images.
        fake_logits: (B,) logits of D on generated images.

    Returns:
        Scalar loss, >= 0; minimised by the discriminator.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    r"""The original, *saturating* generator loss (Goodfellow et al., 2014).

    $$
    L_G = \mathbb{E}_z[\log(1 - D(G(z)))] = -\mathbb{E}[\mathrm{softplus}(a)],
    \qquad \frac{\partial L_G}{\partial a} = -\sigma(a) \to 0 \text{ as } D(G(z)) \to 0.
    $$

    Early in training D rejects fakes confidently ($a \ll 0$), so the
    gradient reaching G vanishes: the loss saturates.

    Args:
        fake_logits: (B,) logits of D on generated images.

    Returns:
        Scalar loss, <= 0; minimised by the generator.
    """
    return -F.softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: Tensor) -> Tensor:
    r"""The non-saturating generator loss (Goodfellow et al., 2014, section 3).

    $$
    L_G = -\mathbb{E}_z[\log D(G(z))] = \mathbb{E}[\mathrm{softplus}(-a)],
    \qquad \frac{\partial L_G}{\partial a} = -(1 - \sigma(a)) \to -1 \text{ as } D(G(z)) \to 0.
    $$

    Same fixed point as the minimax loss, but strong gradients exactly when G is bad.

    Args:
        fake_logits: (B,) logits of D on generated images.

    Returns:
        Scalar loss, >= 0; minimised by the generator.
    """
    return F.softplus(-fake_logits).mean()


# --8<-- [end:bce]


# --8<-- [start:lsgan]
def lsgan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Least-squares discriminator loss (Mao et al., 2017) with a=0, b=1.

    $$
    L_D = \tfrac12\mathbb{E}_x[(D(x) - 1)^2] + \tfrac12\mathbb{E}_z[D(G(z))^2]
    $$

    where $D$ is the raw discriminator output (the logit, no sigmoid).

    Args:
        real_logits: (B,) raw outputs of D on data images.
        fake_logits: (B,) raw outputs of D on generated images.

    Returns:
        Scalar loss, >= 0.
    """
    return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()


def lsgan_generator_loss(fake_logits: Tensor) -> Tensor:
    r"""Least-squares generator loss (Mao et al., 2017) with c=1.

    $$
    L_G = \tfrac12\mathbb{E}_z[(D(G(z)) - 1)^2],
    \qquad \frac{\partial L_G}{\partial a} = a - 1 \text{ (grows as fakes are rejected).}
    $$

    Args:
        fake_logits: (B,) raw outputs of D on generated images.

    Returns:
        Scalar loss, >= 0.
    """
    return 0.5 * (fake_logits - 1).square().mean()


# --8<-- [end:lsgan]


# --8<-- [start:hinge]
def hinge_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""Hinge discriminator loss (Lim & Ye, 2017; Miyato et al., 2018).

    $$
    L_D = \mathbb{E}_x[\max(0, 1 - a_{real})] + \mathbb{E}_z[\max(0, 1 + a_{fake})]
    $$

    D is rewarded only until its raw output passes the margin (+1 on data, -1 on fakes).

    Args:
        real_logits: (B,) raw outputs of D on data images.
        fake_logits: (B,) raw outputs of D on generated images.

    Returns:
        Scalar loss, >= 0.
    """
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_generator_loss(fake_logits: Tensor) -> Tensor:
    r"""Hinge generator loss: $L_G = -\mathbb{E}_z[a_{fake}]$, $\partial L_G/\partial a = -1/B$ everywhere.

    Args:
        fake_logits: (B,) raw outputs of D on generated images.

    Returns:
        Scalar loss (any sign).
    """
    return -fake_logits.mean()


# --8<-- [end:hinge]


class GANLoss(NamedTuple):
    """A pair of objectives plus how to read the discriminator's output.

    Attributes:
        name: Registry name.
        discriminator: ``(real_logits, fake_logits) -> scalar`` minimised by D.
        generator: ``fake_logits -> scalar`` minimised by G.
        score: Maps D's raw output to its "realness" score: the sigmoid D(x) for the BCE losses
            (targets 1 real, 0 fake), the raw output for LSGAN (targets 1, 0) and hinge (margins +1, -1).
    """

    name: str
    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[[Tensor], Tensor]
    score: Callable[[Tensor], Tensor]


def _identity(x: Tensor) -> Tensor:
    return x


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss("minimax", bce_discriminator_loss, minimax_generator_loss, torch.sigmoid),
    "nonsaturating": GANLoss("nonsaturating", bce_discriminator_loss, nonsaturating_generator_loss, torch.sigmoid),
    "lsgan": GANLoss("lsgan", lsgan_discriminator_loss, lsgan_generator_loss, _identity),
    "hinge": GANLoss("hinge", hinge_discriminator_loss, hinge_generator_loss, _identity),
}


def get_loss(name: str) -> GANLoss:
    """Look up a loss by name (``minimax``, ``nonsaturating``, ``lsgan`` or ``hinge``)."""
    from companion.errors import ConfigError

    if name not in LOSSES:
        raise ConfigError(f"unknown loss '{name}'; choose from {', '.join(LOSSES)}")
    return LOSSES[name]
