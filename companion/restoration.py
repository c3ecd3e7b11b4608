r"""Restoration with a GAN prior: find z so that the degraded G(z) matches the observation.

An observation is $y = A(x) + \varepsilon$ for a known operator $A$ and noise $\varepsilon$. With a
generator G as the prior over clean images (Bora et al., 2017, *Compressed Sensing using
Generative Models*), restoration is the inversion problem of chapter 2 through $A$:

$$
\hat x = G(\hat z), \qquad \hat z = \arg\min_z \; \ell\big(A(G(z)), y\big) + \text{prior}(z),
$$

with $\ell$ the squared error for Gaussian noise, super-resolution and compressed sensing, and
the absolute error on the known pixels for inpainting (as the course report did). The answer
always lies on G's range: that removes any amount of noise, fills any hole and needs few
measurements, but it can never be closer to $x$ than G's best approximation of it.

Operators are small objects with ``__call__`` (and ``adjoint`` where linear); ``degrade``
adds the noise. One solver serves them all: `companion.inversion.fit_latent`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from companion.errors import ConfigError, DataError
from companion.inversion import InversionConfig, InversionResult, fit_latent
from companion.options import check_choice

__all__ = [
    "CLI_TASKS",
    "MASKS",
    "TASKS",
    "AvgPoolDown",
    "GaussianSensing",
    "Identity",
    "Mask",
    "Operator",
    "center_box_mask",
    "cli_operator",
    "dropout_mask",
    "half_mask",
    "load_mask",
    "make_task",
    "restore",
]


class Operator:
    """A degradation A with a noise level: ``y = A(x) + sigma * N(0, I)``.

    Subclasses set ``shape`` (C, H, W) of the clean image, implement ``__call__`` and, when
    linear, ``adjoint``; ``mask`` is the known-pixel mask (1 = known) where one applies.
    """

    shape: tuple[int, int, int]
    sigma: float = 0.0
    mask: Tensor | None = None
    data_loss: str = "mse"

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def adjoint(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    def check(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != tuple(self.shape):
            raise DataError(f"images of shape {tuple(x.shape[1:])} do not fit this operator, made for {self.shape}")

    def degrade(self, x: Tensor, seed: int = 0) -> Tensor:
        """The observation y = A(x) + sigma * noise (noise drawn from ``seed``, reproducible)."""
        self.check(x)
        y = self(x)
        if self.sigma > 0:
            g = torch.Generator().manual_seed(seed)
            y = y + self.sigma * torch.randn(y.shape, generator=g).to(y.device)
        return y

    def view(self, y: Tensor) -> Tensor:
        """The observation shown as an image (for grids and for the degraded input's own scores)."""
        return self.adjoint(y).clamp(0, 1)


@dataclass
class Identity(Operator):
    """Denoising: A = I, y = x + sigma * noise."""

    shape: tuple[int, int, int]
    sigma: float = 0.1

    def __post_init__(self) -> None:
        if not self.sigma >= 0:
            raise ConfigError(f"sigma must be >= 0, got {self.sigma}")

    def __call__(self, x: Tensor) -> Tensor:
        return x

    def adjoint(self, y: Tensor) -> Tensor:
        return y


@dataclass
class Mask(Operator):
    """Inpainting: A x = m * x with a fixed known-pixel mask m (1 known, 0 missing), shape (1 or N, 1, H, W)."""

    shape: tuple[int, int, int]
    mask: Tensor = field(default=None)  # type: ignore[assignment]
    sigma: float = 0.0
    data_loss: str = "l1"

    def __post_init__(self) -> None:
        if self.mask is None or self.mask.ndim != 4 or tuple(self.mask.shape[2:]) != tuple(self.shape[1:]):
            got = None if self.mask is None else tuple(self.mask.shape)
            raise DataError(f"mask of shape {got} does not fit images of shape {self.shape}")
        self.mask = self.mask.float()

    def _mask_for(self, x: Tensor) -> Tensor:
        """The mask for a batch; per-image masks are repeated for the solver's restarts (image-major rows)."""
        m = self.mask.to(x.device)
        if m.shape[0] not in (1, x.shape[0]):
            if x.shape[0] % m.shape[0]:
                raise DataError(f"{m.shape[0]} masks do not fit a batch of {x.shape[0]} images")
            m = m.repeat_interleave(x.shape[0] // m.shape[0], 0)
        return m

    def __call__(self, x: Tensor) -> Tensor:
        return x * self._mask_for(x)

    def adjoint(self, y: Tensor) -> Tensor:
        return y * self._mask_for(y)


@dataclass
class AvgPoolDown(Operator):
    """Super-resolution: A averages factor x factor blocks (28 -> 14 for 2x, 28 -> 7 for 4x)."""

    shape: tuple[int, int, int]
    factor: int = 2
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.factor <= 0 or self.shape[1] % self.factor or self.shape[2] % self.factor:
            raise ConfigError(f"factor {self.factor} must divide the image size {self.shape[1:]}")

    def __call__(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.factor)

    def adjoint(self, y: Tensor) -> Tensor:
        return F.interpolate(y, scale_factor=self.factor, mode="nearest") / self.factor**2

    def view(self, y: Tensor) -> Tensor:
        return F.interpolate(y, scale_factor=self.factor, mode="nearest").clamp(0, 1)


@dataclass
class GaussianSensing(Operator):
    """Compressed sensing: y = A x with A (m, D) i.i.d. N(0, 1/m), D = C H W."""

    shape: tuple[int, int, int]
    m: int = 100
    seed: int = 0
    sigma: float = 0.0
    matrix: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        dim = math.prod(self.shape)
        if not 0 < self.m <= dim:
            raise ConfigError(f"m must lie in 1..{dim} (the pixel count), got {self.m}")
        g = torch.Generator().manual_seed(self.seed)
        self.matrix = torch.randn(self.m, dim, generator=g) / math.sqrt(self.m)

    @classmethod
    def from_matrix(cls, shape: tuple[int, int, int], matrix: Tensor) -> GaussianSensing:
        """The operator of a given (m, D) matrix (e.g. read from the file a degradation wrote)."""
        op = cls(shape, m=matrix.shape[0])
        op.matrix = matrix.float()
        return op

    def __call__(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.matrix.to(x.device).T

    def adjoint(self, y: Tensor) -> Tensor:
        return (y @ self.matrix.to(y.device)).reshape(-1, *self.shape)

    def view(self, y: Tensor) -> Tensor:
        """The minimum-norm least-squares image A^+ y."""
        pinv = torch.linalg.pinv(self.matrix.double()).float().to(y.device)
        return (y @ pinv.T).reshape(-1, *self.shape).clamp(0, 1)


def center_box_mask(size: int, side: int = 28) -> Tensor:
    """Known-pixel mask with a missing size x size box in the centre, (1, 1, side, side)."""
    if not 0 < size <= side:
        raise ConfigError(f"box size must lie in 1..{side}, got {size}")
    m = torch.ones(1, 1, side, side)
    lo = (side - size) // 2
    m[..., lo : lo + size, lo : lo + size] = 0
    return m


def dropout_mask(n: int, p: float, side: int = 28, seed: int = 0) -> Tensor:
    """Per-image random masks: each pixel missing with probability p, (n, 1, side, side)."""
    if not 0 <= p < 1:
        raise ConfigError(f"dropout probability must lie in [0, 1), got {p}")
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, side, side, generator=g) >= p).float()


def half_mask(side: int = 28) -> Tensor:
    """The bottom half missing, (1, 1, side, side)."""
    m = torch.ones(1, 1, side, side)
    m[..., side // 2 :, :] = 0
    return m


#: Every task x severity the chapter evaluates: name -> (task, option).
TASKS: dict[str, tuple[str, float]] = {
    "noise σ=0.1": ("denoise", 0.1),
    "noise σ=0.3": ("denoise", 0.3),
    "noise σ=0.5": ("denoise", 0.5),
    "box 8x8": ("box", 8),
    "box 14x14": ("box", 14),
    "dropout 50%": ("dropout", 0.5),
    "dropout 80%": ("dropout", 0.8),
    "half missing": ("half", 0),
    "SR 2x": ("superres", 2),
    "SR 4x": ("superres", 4),
    "CS m=25": ("cs", 25),
    "CS m=50": ("cs", 50),
    "CS m=100": ("cs", 100),
    "CS m=200": ("cs", 200),
}


def make_task(task: str, option: float, n: int, shape: tuple[int, int, int] = (1, 28, 28), seed: int = 0) -> Operator:
    """Build the operator for a task: ``denoise`` (sigma), ``box`` (size), ``dropout`` (p), ``half``,
    ``superres`` (factor) or ``cs`` (m)."""
    side = shape[1]
    if task == "denoise":
        return Identity(shape, sigma=float(option))
    if task == "box":
        return Mask(shape, center_box_mask(int(option), side))
    if task == "dropout":
        return Mask(shape, dropout_mask(n, float(option), side, seed))
    if task == "half":
        return Mask(shape, half_mask(side))
    if task == "superres":
        return AvgPoolDown(shape, int(option))
    if task == "cs":
        return GaussianSensing(shape, int(option), seed)
    raise ConfigError(f"unknown task '{task}'; choose denoise, box, dropout, half, superres or cs")


#: Inpainting masks by name: ``companion restore --mask NAME`` -> (task, option) of `make_task`.
MASKS: dict[str, tuple[str, float]] = {
    "box8": ("box", 8),
    "box14": ("box", 14),
    "dropout50": ("dropout", 0.5),
    "dropout80": ("dropout", 0.8),
    "half": ("half", 0),
}
#: The tasks of ``companion restore --task``.
CLI_TASKS = ("denoise", "inpaint", "superres", "cs")


def load_mask(path: str | Path, n: int, shape: tuple[int, int, int]) -> Tensor:
    """A known-pixel mask from a ``.npy`` file: 1 (or True) = known, 0 = missing.

    Accepts (H, W) for all images, or (N, H, W) / (N, 1, H, W) with one mask per image.

    Raises:
        DataError: unreadable or pickled file, wrong dtype, values other than 0/1, or a shape
            or count that does not fit the images.
    """
    from companion.imageio import read_npy

    arr = read_npy(path, (np.bool_, np.uint8, np.float32, np.float64), "use bool, uint8 or float with 0/1 values")
    m = torch.from_numpy(arr.astype(np.float32))
    if m.ndim == 2:
        m = m.reshape(1, 1, *m.shape)
    elif m.ndim == 3:
        m = m.unsqueeze(1)
    if m.ndim != 4 or m.shape[1] != 1 or tuple(m.shape[2:]) != tuple(shape[1:]):
        raise DataError(
            f"mask {path} has shape {tuple(arr.shape)}; expected {shape[1:]} or (N, {shape[1]}, {shape[2]})"
        )
    if m.shape[0] not in (1, n):
        raise DataError(f"mask {path} holds {m.shape[0]} masks for {n} images")
    if not torch.isin(m, torch.tensor([0.0, 1.0])).all():
        raise DataError(f"mask {path} must hold only 0 (missing) and 1 (known)")
    return m


def cli_operator(
    task: str, n: int, shape: tuple[int, int, int], *, sigma: float, mask: str, factor: int, m: int
) -> Operator:
    """The operator ``companion restore`` builds from its options (each validated, one line on error)."""
    check_choice("task", task, CLI_TASKS)
    if task == "denoise":
        return make_task("denoise", sigma, n, shape)
    if task == "superres":
        return make_task("superres", factor, n, shape)
    if task == "cs":
        return make_task("cs", m, n, shape)
    if mask in MASKS:
        return make_task(*MASKS[mask], n, shape)
    if not mask.endswith(".npy"):
        raise ConfigError(f"--mask must be one of {', '.join(MASKS)} or a .npy file, got {mask}")
    return Mask(shape, load_mask(mask, n, shape))


# --8<-- [start:restore]
def restore(
    generator: torch.nn.Module,
    y: Tensor,
    op: Operator,
    cfg: InversionConfig = InversionConfig(),
    data_loss: str | None = None,
    **kw: Any,
) -> InversionResult:
    """GAN-prior restoration: latent optimisation of ``op(G(z))`` against y.

    Args:
        generator: The prior G (eval mode, frozen).
        y: Observations, as made by ``op.degrade``.
        op: The degradation.
        cfg: Optimiser settings (chapter 2's); its ``loss`` is replaced by ``data_loss``.
        data_loss: ``mse`` or ``l1``; default: the operator's (L1 on the known pixels for masks, else MSE).
        **kw: Passed to `fit_latent` (``z0``, ``track``, ...).
    """
    cfg = dataclasses.replace(cfg, loss=data_loss or op.data_loss)
    return fit_latent(generator, y, cfg, operator=op, mask=op.mask if isinstance(op, Mask) else None, **kw)


# --8<-- [end:restore]
