"""Chapter 1, GAN losses: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import torch
from torch import nn

from companion.exercises.checks.common import close
from companion.exercises.registry import CheckFailed, Exercise
from companion.pixels import to_uint8

__all__ = ["EXERCISES"]


def _sig(a: float) -> float:
    return 1 / (1 + math.exp(-a))


REAL = torch.tensor([2.0, -0.5, 1.0], dtype=torch.float64)


FAKE = torch.tensor([-1.0, 0.3, -2.0], dtype=torch.float64)


def check_d_loss_bce(m: ModuleType) -> None:
    want = sum(-math.log(_sig(r)) for r in REAL.tolist()) / 3 + sum(-math.log(1 - _sig(f)) for f in FAKE.tolist()) / 3
    close(m.d_loss_bce(REAL, FAKE), want, "d_loss_bce on a batch of 3 (a mean over the batch, real and fake terms)")
    big = torch.tensor([-200.0, 200.0])
    v = m.d_loss_bce(big, big)
    if not torch.isfinite(v):
        raise CheckFailed("d_loss_bce(±200 logits) is not finite: compute log sigma(a) as -softplus(-a), from logits")
    close(v, (200 + 0 + 0 + 200) / 2, "d_loss_bce at logits ±200", rtol=1e-4)


def _g_check(fn, per_sample, name: str) -> None:
    want = sum(per_sample(a) for a in FAKE.tolist()) / 3
    close(fn(FAKE), want, f"{name} on a batch of 3 (mean over the batch)")
    a = torch.tensor([-30.0, 5.0], dtype=torch.float64, requires_grad=True)
    fn(a).backward()
    if not torch.isfinite(a.grad).all():
        raise CheckFailed(f"{name}: the gradient at logit -30 is not finite; work from logits")


def check_g_losses(m: ModuleType) -> None:
    _g_check(m.g_loss_minimax, lambda a: math.log(1 - _sig(a)), "g_loss_minimax")
    _g_check(m.g_loss_nonsaturating, lambda a: -math.log(_sig(a)), "g_loss_nonsaturating")
    a = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    m.g_loss_minimax(a).backward()
    if abs(float(a.grad)) > 1e-3:
        raise CheckFailed(
            f"g_loss_minimax: dL/da at a = -10 should be -sigmoid(-10) = -4.5e-5, got {float(a.grad):.3g}"
        )


class _TinyD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1)).squeeze(1)


def check_discriminator_step(m: ModuleType) -> None:
    torch.manual_seed(0)
    G, D = nn.Linear(3, 4), _TinyD()
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    real, z = torch.randn(5, 4), torch.randn(5, 3)
    before = {k: v.clone() for k, v in D.state_dict().items()}
    # the expected loss and the expected update, computed here independently
    with torch.no_grad():
        fake = G(z)
    from torch.nn.functional import softplus

    D_ref = _TinyD()
    D_ref.load_state_dict(before)
    ref_loss = softplus(-D_ref(real)).mean() + softplus(D_ref(fake)).mean()
    ref_loss.backward()
    loss = m.discriminator_step(D, G, opt, real, z)
    close(loss, ref_loss.detach(), "the returned D loss (BCE from logits, real up and fake down)")
    if any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in G.parameters()):
        raise CheckFailed("G received gradients from the D step: detach the generated batch before D sees it")
    for name, p in D_ref.named_parameters():
        close(D.state_dict()[name], before[name] - 0.1 * p.grad, f"D's {name} after one SGD step (lr 0.1)")


class _BNGen(nn.Module):
    """z (B, 2) -> (B, 1, 2, 3) images in [0, 1], with BatchNorm (whose running statistics must not move)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.bn = nn.Linear(2, 6), nn.BatchNorm1d(6)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.bn(self.lin(z))).view(-1, 1, 2, 3)


def check_fixed_latent_grid(m: ModuleType) -> None:
    torch.manual_seed(0)
    G = _BNGen().train()
    z = torch.randn(6, 2)
    stats = G.bn.running_mean.clone()
    grid = np.asarray(m.fixed_latent_grid(G, z, 3))
    if not torch.equal(G.bn.running_mean, stats):
        raise CheckFailed("BatchNorm's running statistics moved: evaluate G in eval mode")
    if not G.training:
        raise CheckFailed("G was left in eval mode: restore the mode it was in")
    G.eval()
    with torch.no_grad():
        imgs = to_uint8(G(z))[:, 0].numpy()
    if grid.shape != (4, 9) or grid.dtype != np.uint8:
        raise CheckFailed(f"expected a (2 rows x 2, 3 columns x 3) = (4, 9) uint8 grid, got {grid.shape} {grid.dtype}")
    for k in range(6):
        r, c = divmod(k, 3)
        if not np.array_equal(grid[2 * r : 2 * r + 2, 3 * c : 3 * c + 3], imgs[k]):
            raise CheckFailed(f"image {k} should sit at grid row {r}, column {c} (row-major order)")


EXERCISES: list[Exercise] = [
    Exercise("gan_losses", 1, "The discriminator's loss from logits", ("d_loss_bce",), check_d_loss_bce),
    Exercise("gan_losses", 2, "Both BCE generator losses", ("g_loss_minimax", "g_loss_nonsaturating"), check_g_losses),
    Exercise("gan_losses", 3, "The D step, with the right detach()", ("discriminator_step",), check_discriminator_step),
    Exercise("gan_losses", 4, "A fixed-latent grid writer", ("fixed_latent_grid",), check_fixed_latent_grid),
    Exercise(
        "gan_losses",
        5,
        "Adam's beta1 and the minimax stall",
        task="Train the minimax loss for 5 epochs with --beta1 0.9 and with the default 0.5, two seeds each "
        "(companion train --loss minimax --epochs 5 --beta1 0.9 --seed S --out ...). Count the epochs with mean "
        "D(G(z)) < 0.01 in metrics.jsonl. Does momentum shorten or lengthen the stall? Is the difference larger "
        "than the seed-to-seed spread?",
    ),
]
