"""The 64x64 DCGAN of Radford, Metz and Chintala (2015), for CelebA and resized sets.

Generator: z -> 4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x64 -> 64x64xC with
batch norm and ReLU, Tanh output. Discriminator: the mirror image with strided
convolutions, LeakyReLU(0.2), and no batch norm on the first layer. Weights are
initialised from N(0, 0.02) as in the paper (see `companion.models.dcgan_init`).

The book keeps one image convention, values in [0, 1]: the generator maps its
Tanh output t to (t + 1) / 2 and the discriminator maps its input back to [-1, 1],
so the networks see exactly the ranges the paper used.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["DCGANDiscriminator", "DCGANGenerator"]


class DCGANGenerator(nn.Module):
    """DCGAN generator G: R^d -> [0, 1]^(C x 64 x 64).

    Args:
        latent_dim: Size of z (100 in the paper).
        channels: Output channels (3 for CelebA).
        width: Channels of the last hidden layer (64 in the paper).

    Shapes:
        z: (B, latent_dim); returns (B, channels, 64, 64) in [0, 1].
    """

    def __init__(self, latent_dim: int = 100, channels: int = 3, width: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        w = width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, w * 8, 4, 1, 0, bias=False),  # 1 -> 4
            nn.BatchNorm2d(w * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(w * 8, w * 4, 4, 2, 1, bias=False),  # 4 -> 8
            nn.BatchNorm2d(w * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(w * 4, w * 2, 4, 2, 1, bias=False),  # 8 -> 16
            nn.BatchNorm2d(w * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(w * 2, w, 4, 2, 1, bias=False),  # 16 -> 32
            nn.BatchNorm2d(w),
            nn.ReLU(True),
            nn.ConvTranspose2d(w, channels, 4, 2, 1, bias=False),  # 32 -> 64
            nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return (self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1)) + 1) / 2


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator returning logits.

    Args:
        channels: Input channels.
        width: Channels of the first layer (64 in the paper).

    Shapes:
        x: (B, channels, 64, 64) in [0, 1]; returns (B,) logits.
    """

    def __init__(self, channels: int = 3, width: int = 64) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1, bias=False),  # 64 -> 32
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, w * 2, 4, 2, 1, bias=False),  # 32 -> 16
            nn.BatchNorm2d(w * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 2, w * 4, 4, 2, 1, bias=False),  # 16 -> 8
            nn.BatchNorm2d(w * 4),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 4, w * 8, 4, 2, 1, bias=False),  # 8 -> 4
            nn.BatchNorm2d(w * 8),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 8, 1, 4, 1, 0, bias=False),  # 4 -> 1: the logit
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x * 2 - 1).flatten()
