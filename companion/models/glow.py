r"""A Glow for 28x28 images, assembled from nflows' parts, with its exact log-density.

Glow (Kingma & Dhariwal, 2018) is a normalizing flow: an invertible map $f$ from images to a
standard normal $z$ whose log-determinant is cheap, so that the density of an image is exact:

$$
\log p(y) = \log \mathcal N\big(f(y); 0, I\big) + \log\,\lvert\det \partial f / \partial y\rvert .
$$

Each **step of flow** is three invertible layers, each with a log-determinant computed in closed form:

* **ActNorm**: a per-channel affine map $s_c y + b_c$ (initialised from the first batch so that
  each channel has mean 0 and variance 1): $\log|\det| = HW \sum_c \log|s_c|$;
* **invertible 1x1 convolution**: $W y$ at every pixel with $W = P L (U + \operatorname{diag} s)$
  (LU-factorised, P a fixed permutation): $\log|\det| = HW \sum_c \log|s_c|$;
* **coupling**: half the channels pass unchanged and set a scale and shift (affine, as in
  RealNVP) or a monotone rational-quadratic spline (Durkan et al., 2019) for the other half,
  through a convolutional residual net: the Jacobian is triangular, its log-determinant the sum of
  the log-derivatives of the transformed half.

The **multi-scale architecture** (Dinh et al., 2017) squeezes 1x28x28 to 4x14x14 (each 2x2 block
of pixels becomes 4 channels), runs K steps, sends half of the channels (2x14x14 = 392 numbers)
straight to the output, squeezes the rest to 8x7x7 and runs K more steps: every one of the 784
dimensions reaches the output exactly once. 7 is odd, so two levels is all a 28x28 image allows.

**Preprocessing** (`Logit`): a dequantised image $x \in (0, 1)^D$ is mapped to
$y = \operatorname{logit}(\alpha + (1 - 2\alpha) x)$, whose Jacobian is counted:
$\log|\det| = \sum_i \log(1 - 2\alpha) - \log s_i - \log(1 - s_i)$ with $s_i = \alpha + (1 - 2\alpha) x_i$.
So ``log_prob`` of the whole flow is the exact density of $x$ on $(0, 1)^D$.

The conv nets inside the couplings may run in bfloat16 (`set_precision`); their outputs are cast
to float32 before any scale, log or log-determinant is formed (`FP32Out`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from nflows.distributions.normal import StandardNormal
from nflows.flows.base import Flow
from nflows.nn.nets import ConvResidualNet
from nflows.transforms.base import CompositeTransform, MultiscaleCompositeTransform, Transform
from nflows.transforms.conv import OneByOneConvolution
from nflows.transforms.coupling import AffineCouplingTransform, PiecewiseRationalQuadraticCouplingTransform
from nflows.transforms.normalization import ActNorm
from nflows.transforms.reshape import SqueezeTransform
from torch import Tensor, nn

from companion.errors import ConfigError

__all__ = ["COUPLINGS", "FP32Out", "GlowSpec", "Invertible1x1", "Logit", "build_glow", "set_precision"]

COUPLINGS = ("affine", "spline")


@dataclass(frozen=True)
class GlowSpec:
    """The architecture of a Glow (what a checkpoint needs to rebuild it)."""

    channels: int = 1
    image_size: int = 28
    levels: int = 2  # squeeze + K steps each; a split after every level but the last
    steps: int = 8  # K, steps of flow per level
    hidden: int = 64  # channels of the coupling nets
    blocks: int = 1  # residual blocks per coupling net
    coupling: str = "affine"  # affine | spline (rational-quadratic, 8 bins, linear tails at +-4)
    bins: int = 8
    alpha: float = 1e-6  # the logit preprocessing's margin

    def __post_init__(self) -> None:
        if self.coupling not in COUPLINGS:
            raise ConfigError(f"unknown coupling '{self.coupling}'; choose from {', '.join(COUPLINGS)}")
        for name in ("channels", "image_size", "levels", "steps", "hidden", "blocks", "bins"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        side = self.image_size
        for _ in range(self.levels):
            if side % 2:
                raise ConfigError(f"{self.levels} levels need an image side divisible by 2^{self.levels}")
            side //= 2
        if not 0 <= self.alpha < 0.5:
            raise ConfigError(f"alpha must lie in [0, 0.5), got {self.alpha}")

    @property
    def dim(self) -> int:
        """D, the number of dimensions: C x H x W."""
        return self.channels * self.image_size**2

    def to_dict(self) -> dict:
        return asdict(self)


class Logit(Transform):
    r"""$y = \operatorname{logit}(\alpha + (1 - 2\alpha) x)$ for $x \in (0, 1)$, with its log-determinant.

    Shapes: (B, ...) -> (B, ...), log-determinant (B,).
    """

    def __init__(self, alpha: float = 1e-6) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, inputs: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s = self.alpha + (1 - 2 * self.alpha) * inputs
        y = torch.log(s) - torch.log1p(-s)
        logdet = (math.log1p(-2 * self.alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
        return y, logdet

    def inverse(self, inputs: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s = torch.sigmoid(inputs)
        x = (s - self.alpha) / (1 - 2 * self.alpha)
        logdet = (torch.log(s) + torch.log1p(-s) - math.log1p(-2 * self.alpha)).flatten(1).sum(1)
        return x, logdet


class Invertible1x1(OneByOneConvolution):
    r"""nflows' invertible 1x1 convolution (LU-parametrised, after a fixed channel permutation P), as one convolution.

    nflows applies it as a permutation (a copy), a move of every pixel's channels into rows (a copy), two
    matrix products and the move back (a copy), with its log-determinant formed per pixel and summed. The
    same function is one 1x1 convolution with the folded matrix $W = L U P$ (for $y = L U (P x) + b$:
    $W_{:, j} = (LU)_{:, \pi^{-1}(j)}$), and $\log|\det| = HW \sum_c \log u_{cc}$; the inverse is one
    convolution with $P^{-1} U^{-1} L^{-1}$ (two triangular solves of a C x C identity instead of one per
    pixel). Same parameters and state-dict keys as nflows' layer, and the same outputs to float rounding
    (tests/test_glow.py compares both ways); ``build_glow(..., fast=False)`` keeps nflows' own.
    """

    def _inverse_perm(self) -> Tensor:
        return torch.argsort(self.permutation._permutation)

    def forward(self, inputs: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, _, h, w = inputs.shape
        lower, upper = self._create_lower_upper()
        weight = (lower @ upper)[:, self._inverse_perm()]
        outputs = nn.functional.conv2d(inputs, weight[:, :, None, None], self.bias)
        return outputs, (h * w * self.logabsdet()).expand(b)

    def inverse(self, inputs: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        b, c, h, w = inputs.shape
        lower, upper = self._create_lower_upper()
        eye = torch.eye(c, dtype=inputs.dtype, device=inputs.device)
        l_inv = torch.linalg.solve_triangular(lower, eye, upper=False, unitriangular=True)
        u_inv = torch.linalg.solve_triangular(upper, eye, upper=True)
        weight = (u_inv @ l_inv)[self._inverse_perm()]
        outputs = nn.functional.conv2d(inputs - self.bias[None, :, None, None], weight[:, :, None, None])
        return outputs, (-h * w * self.logabsdet()).expand(b)


class FP32Out(nn.Module):
    """A coupling net, optionally run in bfloat16, whose output is float32 (so every log-det stays fp32).

    Only these nets may run in lower precision: the invertible layers (ActNorm, the 1x1
    convolution, the coupling's scale and shift, the logit) always compute in float32, so the
    flow stays exactly invertible and its log-determinant exact. ``bf16`` is set by `set_precision`.
    """

    def __init__(self, net: nn.Module, channels_last: bool = False) -> None:
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.channels_last = channels_last
        self.bf16 = False

    def forward(self, inputs: Tensor, context: Tensor | None = None) -> Tensor:
        if self.channels_last:  # oneDNN's fast convolutions on the CPU are the channels-last ones
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return self.net(inputs, context)
        with torch.autocast(inputs.device.type, dtype=torch.bfloat16):
            return self.net(inputs, context).float()


def set_precision(flow: nn.Module, precision: str) -> None:
    """Run every coupling net of ``flow`` in ``fp32`` or ``bf16`` (the rest of the flow stays fp32)."""
    for m in flow.modules():
        if isinstance(m, FP32Out):
            m.bf16 = precision == "bf16"


# --8<-- [start:build]
def _step(spec: GlowSpec, channels: int, index: int, fast: bool = True) -> list[Transform]:
    """One step of flow: ActNorm, an invertible 1x1 convolution, a coupling on alternating halves."""
    mask = torch.zeros(channels)
    half = channels // 2
    mask[half:] = 1 if index % 2 == 0 else 0
    mask[:half] = 0 if index % 2 == 0 else 1

    def net(c_in: int, c_out: int) -> nn.Module:
        return FP32Out(ConvResidualNet(c_in, c_out, hidden_channels=spec.hidden, num_blocks=spec.blocks), fast)

    if spec.coupling == "affine":
        coupling = AffineCouplingTransform(mask, net)
    else:
        coupling = PiecewiseRationalQuadraticCouplingTransform(
            mask, net, num_bins=spec.bins, tails="linear", tail_bound=4.0, apply_unconditional_transform=False
        )
    return [ActNorm(channels), (Invertible1x1 if fast else OneByOneConvolution)(channels), coupling]


def build_glow(spec: GlowSpec, fast: bool = True) -> Flow:
    """The Glow of ``spec``: ``log_prob(x)`` for x in (0, 1)^(C x H x W), ``sample(n)`` back in (0, 1).

    ``fast`` (the default) computes the same function faster on the CPU: the invertible 1x1 convolutions
    as one folded convolution (`Invertible1x1`) and the coupling nets in channels-last memory; ``False``
    is nflows' own layers (the speed benchmark's reference). Both have the same parameters.

    Shapes:
        x: (B, C, H, W) dequantised images in (0, 1); ``log_prob`` returns (B,) in nats.
    """
    multiscale = MultiscaleCompositeTransform(num_transforms=spec.levels)
    c, h, w = spec.channels, spec.image_size, spec.image_size
    for _ in range(spec.levels):
        squeeze = SqueezeTransform()
        c, h, w = squeeze.get_output_shape(c, h, w)
        layers: list[Transform] = [squeeze]
        for k in range(spec.steps):
            layers += _step(spec, c, k, fast)
        hidden_shape = multiscale.add_transform(CompositeTransform(layers), (c, h, w))
        if hidden_shape is not None:  # half of the channels leave here, the rest go on
            c, h, w = hidden_shape
    transform = CompositeTransform([Logit(spec.alpha), multiscale])
    return Flow(transform, StandardNormal([spec.dim]))


# --8<-- [end:build]
