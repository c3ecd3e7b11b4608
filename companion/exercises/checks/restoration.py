"""Chapter 3, restoration: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

from types import ModuleType

import torch

from companion.exercises.checks.common import close
from companion.exercises.registry import Exercise

__all__ = ["EXERCISES"]


def check_inpainting_loss(m: ModuleType) -> None:
    pred = torch.zeros(2, 1, 2, 2, dtype=torch.float64)
    obs = torch.tensor([[[[1.0, 2.0], [3.0, 99.0]]], [[[0.5, 0.5], [0.5, 0.5]]]], dtype=torch.float64)
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]], dtype=torch.float64)
    close(m.inpainting_loss(pred, obs, mask), [2.0, 0.5], "per-image mean |error| over the 3 known pixels")
    per_image = torch.cat([mask, torch.tensor([[[[0.0, 0.0], [0.0, 1.0]]]], dtype=torch.float64)])
    close(m.inpainting_loss(pred, obs, per_image), [2.0, 0.5], "with one mask per image")


def check_downsample(m: ModuleType) -> None:
    x = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4)
    close(m.downsample(x, 2), [[[[2.5, 4.5], [10.5, 12.5]]]], "downsample of arange(16) by 2 (block means)")
    g = torch.Generator().manual_seed(0)
    for factor in (2, 4):
        x = torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64)
        y = torch.randn(3, 1, 8 // factor, 8 // factor, generator=g, dtype=torch.float64)
        lhs = (m.downsample(x, factor) * y).sum()
        rhs = (x * m.downsample_adjoint(y, factor)).sum()
        close(lhs, rhs, f"<A x, y> against <x, A^T y> (factor {factor})", rtol=1e-10)


EXERCISES: list[Exercise] = [
    Exercise(
        "restoration", 1, "The inpainting objective: L1 on known pixels", ("inpainting_loss",), check_inpainting_loss
    ),
    Exercise("restoration", 2, "A degradation and its adjoint", ("downsample", "downsample_adjoint"), check_downsample),
    Exercise(
        "restoration",
        3,
        "L1 or L2 for inpainting?",
        task="Restore the 14x14 hole with --data-loss l1 and --data-loss mse (companion restore --task inpaint "
        "--mask box14 ...). Compare PSNR on the known and on the missing pixels separately. Which data term "
        "fits the known pixels more tightly, and which fills the hole better?",
    ),
]
