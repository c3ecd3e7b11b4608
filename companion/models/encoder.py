"""The encoder network E: image -> latent (chapter 2), a model like the others (no training code)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Encoder"]


class Encoder(nn.Module):
    """E: image -> latent, a DCGAN-style conv net (three strided convs, BN, LeakyReLU, linear head).

    Shapes:
        x: (B, C, 28, 28) in [0, 1] (or 64x64 with ``image_size=64``); returns (B, latent_dim).
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 28, width: int = 64) -> None:
        super().__init__()
        w = width
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1),
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1),
            nn.BatchNorm2d(4 * w),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.net(torch.zeros(1, channels, image_size, image_size)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, 512), nn.LeakyReLU(0.2, True), nn.Linear(512, latent_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.net(x * 2 - 1))
