"""Model registry: build a generator/discriminator pair by architecture name.

Models never import training code; the trainer receives them ready-made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from companion.errors import ConfigError
from companion.models.classifier import DigitClassifier
from companion.models.dcgan64 import DCGANDiscriminator, DCGANGenerator
from companion.models.report28 import ReportDiscriminator, ReportGenerator

__all__ = [
    "ARCHS",
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

#: Image side length each architecture produces and consumes.
ARCHS: dict[str, int] = {"report28": 28, "dcgan64": 64}


@dataclass(frozen=True)
class ArchSpec:
    """What is needed to rebuild a GAN from a checkpoint."""

    arch: str
    channels: int
    latent_dim: int

    @property
    def image_size(self) -> int:
        return ARCHS[self.arch]

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
    if spec.arch == "report28":
        g: nn.Module = ReportGenerator(spec.latent_dim, spec.channels)
    elif spec.arch == "dcgan64":
        g = DCGANGenerator(spec.latent_dim, spec.channels)
    else:
        raise ConfigError(f"unknown arch '{spec.arch}'; choose from {', '.join(ARCHS)}")
    g.apply(dcgan_init)
    return g


def build_gan(spec: ArchSpec) -> tuple[nn.Module, nn.Module]:
    """A freshly initialised (generator, discriminator) pair for ``spec``.

    Both architectures use the DCGAN initialisation; the report's pair is a DCGAN
    and was trained with it.
    """
    g = build_generator(spec)
    d: nn.Module = ReportDiscriminator(spec.channels) if spec.arch == "report28" else DCGANDiscriminator(spec.channels)
    d.apply(dcgan_init)
    return g, d
