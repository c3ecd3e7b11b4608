"""Model registry: every GAN architecture in one table (name -> G, D, image size).

Models never import training code; the trainer receives them ready-made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from torch import nn

from companion.errors import ConfigError
from companion.models.classifier import DigitClassifier
from companion.models.dcgan64 import DCGANDiscriminator, DCGANGenerator
from companion.models.report28 import ReportDiscriminator, ReportGenerator

__all__ = [
    "ARCHS",
    "Arch",
    "ArchSpec",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DigitClassifier",
    "ReportDiscriminator",
    "ReportGenerator",
    "build_gan",
    "build_generator",
    "dcgan_init",
]


@dataclass(frozen=True)
class Arch:
    """One registered architecture.

    Attributes:
        generator: ``generator(latent_dim, channels)`` -> module mapping (B, d) to (B, C, S, S) in [0, 1].
        discriminator: ``discriminator(channels)`` -> module mapping images to (B,) logits.
        image_size: S, the side length it makes and reads.
        about: One line for the help text.
    """

    generator: Any  # a class or a partial: (latent_dim, channels) -> nn.Module
    discriminator: Any  # (channels) -> nn.Module
    image_size: int
    about: str


#: Every GAN architecture the book trains, by ``--arch`` name.
ARCHS: dict[str, Arch] = {
    "report28": Arch(ReportGenerator, ReportDiscriminator, 28, "the course report's 28x28 DCGAN"),
    "report28-nobn": Arch(
        ReportGenerator, partial(ReportDiscriminator, batchnorm=False), 28, "the report's pair, D without BatchNorm"
    ),
    "dcgan64": Arch(DCGANGenerator, DCGANDiscriminator, 64, "Radford et al. (2015), 64x64"),
}


@dataclass(frozen=True)
class ArchSpec:
    """What is needed to rebuild a GAN from a checkpoint."""

    arch: str
    channels: int
    latent_dim: int

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown arch '{self.arch}'; choose from {', '.join(ARCHS)}")

    @property
    def image_size(self) -> int:
        return ARCHS[self.arch].image_size

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return self.channels, self.image_size, self.image_size

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. (2015) initialisation: conv weights ~ N(0, 0.02), BN gamma ~ N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_generator(spec: ArchSpec) -> nn.Module:
    """A freshly initialised generator for ``spec``."""
    g = ARCHS[spec.arch].generator(spec.latent_dim, spec.channels)
    g.apply(dcgan_init)
    return g


def build_gan(spec: ArchSpec) -> tuple[nn.Module, nn.Module]:
    """A freshly initialised (generator, discriminator) pair for ``spec``.

    Both architectures use the DCGAN initialisation; the report's pair is a DCGAN
    and was trained with it.
    """
    g = build_generator(spec)
    d = ARCHS[spec.arch].discriminator(spec.channels)
    d.apply(dcgan_init)
    return g, d
