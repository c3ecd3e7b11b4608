"""Chapter 2, GAN inversion: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

import math
from types import ModuleType

import torch
from torch import nn

from companion.exercises.checks.common import close
from companion.exercises.registry import CheckFailed, Exercise

__all__ = ["EXERCISES"]


def check_project_to_sphere(m: ModuleType) -> None:
    z = torch.tensor([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5]], dtype=torch.float64)
    close(m.project_to_sphere(z), [[1.2, 1.6, 0, 0], [0, 0, 0, 2.0]], "project_to_sphere (norm sqrt(4) = 2 per row)")


class _LinearG(nn.Module):
    """A small generator that records the batch sizes it is called with."""

    latent_dim = 8

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.lin = nn.Linear(8, 16)
        self.batches: list[int] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.batches.append(z.shape[0])
        return torch.sigmoid(self.lin(z)).view(-1, 1, 4, 4)


def check_invert(m: ModuleType) -> None:
    G = _LinearG()
    g = torch.Generator().manual_seed(7)
    z_true = torch.randn(5, 8, generator=g)
    z_true = z_true * (math.sqrt(8) / z_true.norm(dim=1, keepdim=True))
    with torch.no_grad():
        x = G(z_true)
    G.batches.clear()
    z = m.invert(G, x, steps=300, restarts=4, lr=0.1, seed=0)
    if 20 not in G.batches:
        raise CheckFailed(f"the 4 restarts of 5 images should run as one batch of 20; G saw {sorted(set(G.batches))}")
    if tuple(z.shape) != (5, 8):
        raise CheckFailed(f"invert should return (N, d) = (5, 8) latents, got {tuple(z.shape)}")
    close(z.norm(dim=1), [math.sqrt(8)] * 5, "norms of the returned z (the sphere prior)", rtol=1e-4)
    with torch.no_grad():
        mse = (G(z) - x).square().flatten(1).mean(1)
    worst = float(mse.max())
    if worst > 1e-4:
        raise CheckFailed(f"in-span targets G(z*) should be recovered (MSE < 1e-4 per image); the worst is {worst:.2e}")
    if any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in G.parameters()):
        raise CheckFailed("G's parameters received gradients: G must stay frozen")


EXERCISES: list[Exercise] = [
    Exercise("inversion", 1, "Projection onto the sphere", ("project_to_sphere",), check_project_to_sphere),
    Exercise("inversion", 2, "Latent optimisation with restarts and a prior", ("invert",), check_invert),
    Exercise(
        "inversion",
        3,
        "Where does the encoder fail?",
        task="Run the chapter's encoder on 200 test digits and sort them by PSNR. Look at the 12 worst: are they "
        "unusual digits (thick, slanted, broken) or digits the generator cannot draw? Invert the same 12 by "
        "optimisation (8 starts): which failures does optimisation repair?",
    ),
]
