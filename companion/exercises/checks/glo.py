"""Chapter 5, GLO: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

import math
from types import ModuleType

import torch

from companion.exercises.checks.common import close
from companion.exercises.registry import CheckFailed, Exercise

__all__ = ["EXERCISES"]


def check_project_codes(m: ModuleType) -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 25, generator=g, dtype=torch.float64) * torch.tensor([[0.01], [1.0], [7.0], [100.0]])
    p = m.project_codes(z)
    close(p.norm(dim=1), torch.full((4,), 5.0, dtype=torch.float64), "every row's norm must be sqrt(d) = 5")
    close(p / p.norm(dim=1, keepdim=True), z / z.norm(dim=1, keepdim=True), "each code keeps its direction")


def _blur(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype) / 4
    kernel = (k[:, None] * k[None, :]).expand(x.shape[1], 1, 3, 3)
    return torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), kernel,
                                      groups=x.shape[1])  # fmt: skip


def _pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    out = []
    for _ in range(levels):
        low = _blur(x)
        out.append(x - low)
        x = low.unfold(2, 2, 2).unfold(3, 2, 2).mean((-1, -2))  # 2x2 block means, written another way
    return [*out, x]


def check_lap1(m: ModuleType) -> None:
    g = torch.Generator().manual_seed(1)
    x, y = (
        torch.rand(2, 1, 8, 8, generator=g, dtype=torch.float64),
        torch.rand(2, 1, 8, 8, generator=g, dtype=torch.float64),
    )
    for levels in (1, 2):
        want = sum((a - b).abs().flatten(1).mean(1) for a, b in zip(_pyramid(x, levels), _pyramid(y, levels)))
        close(m.lap1_loss(x, y, levels, _blur), want, f"Lap1 with {levels} band(s) and the residual, per image")
    if torch.as_tensor(m.lap1_loss(x, x, 2, _blur)).abs().max() != 0:
        raise CheckFailed("Lap1 of an image with itself must be 0")


def check_imle(m: ModuleType) -> None:
    g = torch.Generator().manual_seed(2)
    codes = torch.randn(6, 3, generator=g, dtype=torch.float64)
    samples = torch.randn(15, 3, generator=g, dtype=torch.float64, requires_grad=True)
    nn_idx, loss = m.imle_match(codes, samples)
    s = samples.detach()
    brute = [min(range(15), key=lambda j, i=i: float(((s[j] - codes[i]) ** 2).sum())) for i in range(6)]
    if torch.as_tensor(nn_idx).tolist() != brute:
        raise CheckFailed(
            f"nearest samples: expected {brute} (each code's nearest sample), got {torch.as_tensor(nn_idx).tolist()}"
        )
    want = sum(float(((s[j] - codes[i]) ** 2).sum()) for i, j in enumerate(brute)) / 6
    close(loss.detach(), torch.tensor(want, dtype=torch.float64), "the mean squared distance to the matched samples")
    loss.backward()
    if samples.grad is None or samples.grad.abs().sum() == 0:
        raise CheckFailed("the loss must be differentiable in the samples (it trains the mapper)")
    unused = sorted(set(range(15)) - set(brute))
    if samples.grad[unused].abs().sum() != 0:
        raise CheckFailed("only matched samples may receive a gradient")
    if not math.isfinite(float(torch.as_tensor(loss).detach())):
        raise CheckFailed("the loss must be finite")


EXERCISES: list[Exercise] = [
    Exercise("glo", 1, "Codes on the sphere", ("project_codes",), check_project_codes),
    Exercise("glo", 2, "The Laplacian pyramid L1 loss", ("lap1_loss",), check_lap1),
    Exercise("glo", 3, "One IMLE matching step", ("imle_match",), check_imle),
    Exercise(
        "glo",
        4,
        "Coverage or sample quality?",
        task="In the chapter's prior table, find the digits where the GLO prior restores better than the GAN's "
        "(runs/glo/book/prior_*.pt hold both restorations). Are they digits the GAN cannot draw (thin, slanted, "
        "unusual)? Then sample both generators (companion sample) and compare the same digits' nearest samples: "
        "which generator's samples look better, and which covers the test digits better?",
    ),
]
