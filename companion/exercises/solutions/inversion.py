"""Chapter 2, GAN inversion: reference solutions."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


# --8<-- [start:project_to_sphere]
def project_to_sphere(z: Tensor) -> Tensor:
    r"""Scale each row of z to norm $\sqrt d$, where $\mathcal N(0, I_d)$ concentrates.

    Args:
        z: (N, d) latents (no zero rows).

    Returns:
        (N, d): $z_i \sqrt d / \lVert z_i \rVert$.
    """
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True))


# --8<-- [end:project_to_sphere]


# --8<-- [start:invert]
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
    n, r, d = x.shape[0], restarts, G.latent_dim
    g = torch.Generator().manual_seed(seed)
    z = project_to_sphere(torch.randn(n * r, d, generator=g)).requires_grad_(True)
    target = x.repeat_interleave(r, 0)
    G.eval()
    for p in G.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        loss = (G(z) - target).square().flatten(1).mean(1).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            z.copy_(project_to_sphere(z))
    with torch.no_grad():
        err = (G(z) - target).square().flatten(1).mean(1).view(n, r)
        best = err.argmin(1) + torch.arange(n) * r
    return z.detach()[best]


# --8<-- [end:invert]
