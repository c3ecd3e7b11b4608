r"""Exact likelihood of 8-bit images with a Glow: dequantisation, bits per dimension, training, scoring, sampling.

**Dequantisation.** A flow has a density on continuous space; an image has D integer grey levels
$x \in \{0, \dots, 255\}^D$. Adding uniform noise, $x_c = (x + u) / 256$ with $u \sim U[0, 1)^D$,
gives continuous data in $(0, 1)^D$, and for the discrete model
$P(x) = \int_{[0,1)^D} p\big((x + u)/256\big)\, 256^{-D}\, du$, Jensen's inequality gives the bound
(Theis et al., 2016)

$$
-\log_2 P(x) \;\le\; \mathbb E_u\big[-\log p(x_c)\big] / \ln 2 + D \log_2 256 ,
$$

so the number reported, **bits per dimension**, is

$$
\text{bpd}(x) = \frac{\mathbb E_u[-\ln p(x_c)]}{D \ln 2} + 8 ,
$$

with $\ln p(x_c)$ the flow's exact log-density (its logit preprocessing counted) and $D = 784$ for a
28x28 image. The expectation is a mean over K draws of u from a fixed seed (`score_bpd`).
A per-pixel histogram (each pixel its own 256-way distribution, no dependence between pixels)
already scores 1.69 bits/dim on the MNIST test digits; a flow is read against that.

Training (`companion.flowtrain`) minimises the mean bpd of dequantised batches on the book's one
training scaffold.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from companion.checkpoint import load_checkpoint, load_state, require_finite
from companion.errors import CheckpointError, ConfigError
from companion.models.glow import COUPLINGS, GlowSpec, build_glow
from companion.options import check_choice, check_finite_positive, check_nonnegative, check_positive, check_seed
from companion.pixels import to_uint8

__all__ = [
    "FLOW_FORMAT",
    "FLOW_PRESETS",
    "FlowConfig",
    "bits_per_dim",
    "dequantise",
    "learning_rate",
    "load_flow",
    "make_flow_config",
    "sample_flow",
    "score_bpd",
    "to_grey_levels",
]

FLOW_FORMAT = "companion-flow/1"
FLOW_KEYS = ("spec", "config", "epoch", "flow", "opt", "rng")
FLOW_DATASETS = ("mnist", "fashion-mnist", "synthetic")


# --8<-- [start:config]
@dataclass(frozen=True)
class FlowConfig:
    """Everything that defines a flow training run (defaults: the book's MNIST Glow)."""

    dataset: str = "mnist"  # mnist | fashion-mnist | synthetic
    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3  # Adam's step after the warm-up
    warmup: int = 500  # steps of linear warm-up from 0
    schedule: str = "cosine"  # cosine (decay to 0 over the run's epochs) | constant
    clip: float = 50.0  # gradient norm clipping (0: off)
    levels: int = 2  # squeeze + K steps each, a split between levels
    depth: int = 8  # K, steps of flow per level
    hidden: int = 64  # channels of each coupling's residual net
    blocks: int = 1  # residual blocks per coupling net
    coupling: str = "affine"  # affine | spline
    eval_images: int = 2000  # test images scored after every epoch (one dequantisation draw)
    train_subset: int = 0  # the first N training images only (0: all)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # of the coupling nets only: auto (bf16 where native) | fp32 | bf16
    # --8<-- [end:config]

    def __post_init__(self) -> None:
        from companion.device import DEVICES, PRECISIONS

        check_choice("dataset", self.dataset, FLOW_DATASETS)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("coupling", self.coupling, COUPLINGS)
        check_choice("schedule", self.schedule, ("cosine", "constant"))
        check_choice("device", self.device, DEVICES)
        check_positive(self, "epochs", "batch_size", "levels", "depth", "hidden", "blocks")
        check_finite_positive(self, "lr")
        check_nonnegative(self, "warmup", "clip", "eval_images", "train_subset")
        check_seed(self)

    def spec(self, channels: int = 1, image_size: int = 28) -> GlowSpec:
        return GlowSpec(channels, image_size, self.levels, self.depth, self.hidden, self.blocks, self.coupling)


FLOW_PRESETS: dict[str, dict[str, Any]] = {
    # A few CPU minutes: a small Glow, two epochs over a third of the data.
    "quick": {"epochs": 2, "depth": 4, "hidden": 32, "train_subset": 20000, "eval_images": 1000},
    # The book's run (see the chapter page for its time on 2 CPU cores).
    "book": {"epochs": 20},
}


def make_flow_config(preset: str | None = None, **overrides: Any) -> FlowConfig:
    """A validated `FlowConfig` from a preset and ``--key value`` overrides (None: not given)."""
    from companion.options import parse_value

    values: dict[str, Any] = {}
    if preset is not None:
        check_choice("preset", preset, FLOW_PRESETS)
        values.update(FLOW_PRESETS[preset])
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = parse_value(key, raw, FlowConfig)
    return dataclasses.replace(FlowConfig(), **values)


# --8<-- [start:bpd]
def dequantise(images: Tensor, generator: torch.Generator) -> Tensor:
    """x_c = (x + u) / 256 with u ~ U[0, 1): uint8 (B, C, H, W) -> float (B, C, H, W) in (0, 1)."""
    u = torch.rand(images.shape, generator=generator).to(images.device)
    return (images.float() + u) / 256


def bits_per_dim(log_prob: Tensor, dim: int) -> Tensor:
    """bpd = -ln p(x_c) / (D ln 2) + log2 256 per image, from the flow's log-density of x_c in (0, 1)^D (nats)."""
    return -log_prob / (dim * math.log(2)) + 8.0


# --8<-- [end:bpd]


def to_grey_levels(x: Tensor) -> Tensor:
    """The inverse of the dequantisation: x_c in (0, 1) -> the grey level floor(256 x_c), uint8 0..255."""
    return (x.float() * 256).floor().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def score_bpd(
    flow: nn.Module, images: Tensor, draws: int = 1, seed: int = 0, batch: int = 500, device: str | torch.device = "cpu"
) -> Tensor:
    """Bits per dimension of every image, each the mean over ``draws`` dequantisation draws from ``seed``.

    Args:
        flow: A flow on (0, 1)^D (`companion.models.glow.build_glow`), in eval mode.
        images: (N, C, H, W), uint8 0..255 or float in [0, 1] (quantised to 8 bits first).
        draws: K, dequantisation draws averaged per image.
        seed: Seed of the draws (the same images with the same seed give the same numbers).

    Returns:
        (N,) float64 bits per dimension, on the CPU.
    """
    x = to_uint8(images).cpu()
    dim = x[0].numel()
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(x.shape[0], dtype=torch.float64)
    flow.eval()
    for _ in range(draws):
        for start in range(0, x.shape[0], batch):
            chunk = dequantise(x[start : start + batch], g).to(device)
            lp = flow.log_prob(chunk).double().cpu()
            total[start : start + batch] += bits_per_dim(lp, dim)
    return total / draws


@torch.no_grad()
def sample_flow(flow: nn.Module, n: int, temperature: float = 1.0, seed: int = 0, device: str = "cpu") -> Tensor:
    """n images from the flow, z ~ N(0, T^2 I) mapped back: uint8 (n, C, H, W) grey levels.

    A temperature T < 1 (Kingma & Dhariwal, 2018) trades diversity for cleaner samples.
    """
    g = torch.Generator().manual_seed(seed)
    dim = flow._distribution._shape[0]
    z = (temperature * torch.randn(n, dim, generator=g)).to(device)
    flow.eval()
    with warnings.catch_warnings():  # nflows' LU inverse calls the deprecated (still exact) triangular_solve
        warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
        x, _ = flow._transform.inverse(z)
    return to_grey_levels(x.cpu())


def learning_rate(cfg: FlowConfig, step: int, total: int) -> float:
    r"""Adam's step at global step t (1-based) of T steps: a linear warm-up over w steps, then a cosine decay.

    $\eta_t = \eta \min(1, t / w) \cdot \tfrac12 (1 + \cos(\pi t / T))$; without the decay
    (``schedule="constant"``) the last factor is 1. It depends on t alone, so a resumed run takes
    the same steps as an uninterrupted one.
    """
    warm = min(1.0, step / cfg.warmup) if cfg.warmup else 1.0
    decay = 0.5 * (1 + math.cos(math.pi * min(step, total) / total)) if cfg.schedule == "cosine" else 1.0
    return cfg.lr * warm * decay


def _build(cfg: FlowConfig, channels: int, size: int) -> tuple[nn.Module, GlowSpec]:
    spec = cfg.spec(channels, size)
    return build_glow(spec), spec


def load_flow(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[nn.Module, GlowSpec, dict]:
    """Rebuild the flow of a ``companion flow train`` checkpoint, in eval mode.

    Returns:
        (flow, its GlowSpec, the checkpoint's config dict).

    Raises:
        CheckpointError: missing, corrupt, altered, another kind (a GAN's, say), or non-finite weights.
    """
    ck = load_checkpoint(path, FLOW_FORMAT, keys=("spec", "config", "flow"))
    try:
        spec = GlowSpec(**ck["spec"])
    except (TypeError, ConfigError):
        raise CheckpointError(f"{path} has no valid flow architecture") from None
    require_finite(ck["flow"], path, "flow")
    flow = build_glow(spec)
    load_state(flow, ck["flow"], path, "flow")
    return flow.to(device).eval(), spec, ck["config"]
