"""The course report's 28x28 DCGAN pair, layer for layer.

The report trained these on MNIST with latent size 100, batch 128 and Adam at
lr 2e-4 for 20 epochs. They are kept exactly as the report specified so its
experiment can be reproduced; the only change is that the discriminator returns
a logit (no final Sigmoid), because every loss in this book is computed from
logits for numerical stability.

Shapes through the generator (stride 2, no padding unless stated):

```text
z (B, 100, 1, 1) -> (B, 256, 3, 3) -> (B, 128, 7, 7) -> (B, 64, 15, 15)
  -> ConvT(k3, s2, p2, output_padding 1) -> (B, 1, 28, 28) -> Sigmoid
```
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ReportDiscriminator", "ReportGenerator"]


# --8<-- [start:generator]
class ReportGenerator(nn.Module):
    """The report's generator G: R^100 -> [0, 1]^(1x28x28).

    Args:
        latent_dim: Size d of the latent code z ~ N(0, I_d); the report used 100.
        channels: Output image channels (1 for MNIST and Fashion-MNIST).

    Shapes:
        z: (B, latent_dim) or (B, latent_dim, 1, 1), any real values.
        returns: (B, channels, 28, 28) in [0, 1] (Sigmoid output).
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 256, 3, 2, 0, bias=False),  # 1 -> 3
            nn.BatchNorm2d(256),
            nn.ReLU(True),
            nn.ConvTranspose2d(256, 128, 3, 2, 0, bias=False),  # 3 -> 7
            nn.BatchNorm2d(128),
            nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 3, 2, 0, bias=False),  # 7 -> 15
            nn.BatchNorm2d(64),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, channels, 3, 2, 2, output_padding=1, bias=False),  # 15 -> 28
            nn.Sigmoid(),
        )

    def forward(self, z: Tensor) -> Tensor:
        # On its 1x1 input the first transposed convolution is a matrix product,
        # h[b, o, i, j] = sum_c z[b, c] W[c, o, i, j]: the same numbers, ~4x faster on the CPU
        # than the convolution kernel (benchmarks/train_speed.py). Rows come out as (i, j, o):
        # channels-last, the layout the next layers run fastest in.
        w = self.net[0].weight  # (latent_dim, 256, 3, 3); the module's own parameter (state dict unchanged)
        h = z.reshape(z.shape[0], self.latent_dim) @ w.permute(0, 2, 3, 1).reshape(self.latent_dim, -1)
        return self.net[1:](h.reshape(z.shape[0], 3, 3, w.shape[1]).permute(0, 3, 1, 2))


# --8<-- [end:generator]


# --8<-- [start:discriminator]
class ReportDiscriminator(nn.Module):
    """The report's discriminator, returning the logit a with D(x) = sigmoid(a).

    Args:
        channels: Input image channels.
        batchnorm: The report's BatchNorm layers (``False``: the same network without them, the
            usual partner of spectral normalisation; chapter 4's ``report28-nobn``).

    Shapes:
        x: (B, channels, 28, 28) in [0, 1].
        returns: (B,) real-valued logits.
    """

    def __init__(self, channels: int = 1, batchnorm: bool = True) -> None:
        super().__init__()

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batchnorm else nn.Identity()

        self.net = nn.Sequential(
            nn.Conv2d(channels, 28, 4, 2, 1, bias=False),  # 28 -> 14
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(28, 56, 4, 2, 1, bias=False),  # 14 -> 7
            norm(56),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(56, 112, 4, 2, 1, bias=False),  # 7 -> 3
            norm(112),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(112, 1, 4, 2, 1, bias=False),  # 3 -> 1: the logit, no Sigmoid
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.net[:-1](x)
        last = self.net[-1]
        if h.shape[-2:] != (3, 3):  # another image size: the convolution itself
            return last(h).flatten()
        # On a 3x3 input the last 4x4 convolution (stride 2, padding 1) has one output, and only its
        # kernel's inner 3x3 meets the image (the border meets the zero padding): a dot product,
        # a = sum_{c,u,v} W[0, c, u+1, v+1] h[c, u, v], the same numbers ~10x faster on the CPU.
        w = last.weight[:, :, 1:4, 1:4]  # (1, 112, 3, 3); through a parametrisation (spectral norm) if any
        return (h.permute(0, 2, 3, 1).flatten(1) @ w.permute(2, 3, 1, 0).reshape(-1, 1)).flatten()


# --8<-- [end:discriminator]
