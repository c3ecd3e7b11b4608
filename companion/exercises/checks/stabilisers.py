"""Chapter 4, stabilisers: the checks of its coded exercises and its open exercises (`EXERCISES`)."""

from __future__ import annotations

from types import ModuleType

import torch
from torch import nn

from companion.exercises.checks.common import close
from companion.exercises.registry import CheckFailed, Exercise

__all__ = ["EXERCISES"]


H_REAL = torch.tensor([2.0, -0.5, 0.5], dtype=torch.float64)


H_FAKE = torch.tensor([-1.5, 0.3, -2.0], dtype=torch.float64)


def check_hinge_losses(m: ModuleType) -> None:
    real, fake = H_REAL.clone().requires_grad_(True), H_FAKE.clone().requires_grad_(True)
    d, g = m.hinge_losses(real, fake)
    # By hand: max(0, 1 - a) on reals = 0, 1.5, 0.5; max(0, 1 + a) on fakes = 0, 1.3, 0; -a on fakes.
    close(d, (0 + 1.5 + 0.5) / 3 + (0 + 1.3 + 0) / 3, "L_D on a batch of 3 (means of max(0, 1 - a) and max(0, 1 + a))")
    close(g, -(-1.5 + 0.3 - 2.0) / 3, "L_G = -mean(a) on the fakes")
    (grad_real,) = torch.autograd.grad(d, real)
    close(grad_real, [0.0, -1 / 3, -1 / 3], "dL_D/da on the reals (0 beyond the margin a > 1)")
    (grad_fake,) = torch.autograd.grad(g, fake)
    close(grad_fake, [-1 / 3] * 3, "dL_G/da on the fakes (linear: never saturates)")


def _orthogonal(n: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def check_spectral_norm_estimate(m: ModuleType) -> None:
    w = _orthogonal(4, 1)[:, :3] @ torch.diag(torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64)) @ _orthogonal(3, 2).T
    u0 = torch.tensor([1.0, -2.0, 0.5, 1.0], dtype=torch.float64)
    # One iteration by hand (v from W^T u, then u from W v, both normalised; sigma = u^T W v).
    v1 = w.T @ u0
    v1 = v1 / v1.norm()
    u1 = w @ v1
    u1 = u1 / u1.norm()
    sigma, u = m.spectral_norm_estimate(w, u0, iters=1)
    close(u, u1, "u after one power iteration (v = W^T u / |W^T u|, then u = W v / |W v|)", rtol=1e-9)
    close(sigma, u1 @ w @ v1, "sigma after one iteration: u^T W v", rtol=1e-9)
    sigma, u = m.spectral_norm_estimate(w, u0, iters=200)
    close(sigma, 3.0, "sigma of a 4x3 matrix with singular values 3, 1, 0.5 after 200 iterations", rtol=1e-8)
    close(u.norm(), 1.0, "|u| (u is returned normalised)", rtol=1e-9)
    big = torch.randn(5, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sigma, _ = m.spectral_norm_estimate(big, torch.ones(5, dtype=torch.float64), iters=300)
    want = torch.linalg.matrix_norm(big, 2)
    close(sigma, want, "sigma of a random 5x7 matrix against torch.linalg.matrix_norm(W, 2)", rtol=1e-6)


def check_ema_update(m: ModuleType) -> None:
    avg, p = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([3.0, -2.0], dtype=torch.float64)
    keep = avg
    want = avg.clone()
    for step, decay in ((0, 0.999), (5, 0.999), (10**6, 0.9)):  # beta_t = 0.1, 0.4 (warm-up), then 0.9
        beta = min(decay, (1 + step) / (10 + step))
        want = beta * want + (1 - beta) * p
        m.ema_update([avg], [p], step, decay)
        close(avg, want, f"the average after the update at t = {step}, beta = {decay} (beta_t = {beta:.3g})")
    if avg is not keep or not torch.equal(p, torch.tensor([3.0, -2.0], dtype=torch.float64)):
        raise CheckFailed("ema_update must change the average in place and leave the weights alone")


class _QuadraticD(nn.Module):
    """D(x) = sum_i w_i x_i^2 per image: grad_x D = 2 w x, known by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[[[0.5, -1.0], [2.0, 0.25]]]], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x.square()).flatten(1).sum(1)


def check_r1_penalty(m: ModuleType) -> None:
    d = _QuadraticD()
    x = torch.arange(12, dtype=torch.float64).reshape(3, 1, 2, 2) / 10 - 0.4
    w = d.w.detach()
    # 1/2 mean_b sum_i (2 w_i x_bi)^2 = 2 mean_b sum_i w_i^2 x_bi^2; its derivative in w_i: 4 w_i mean_b x_bi^2.
    want = 2 * (w.square() * x.square()).flatten(1).sum(1).mean()
    pen = m.r1_penalty(d, x)
    close(pen, want, "1/2 E |grad_x D(x)|^2 (squared norm per image, summed over pixels, mean over the batch)")
    if not pen.requires_grad:
        raise CheckFailed("the penalty does not depend on D's weights: take the gradient with create_graph=True")
    (grad_w,) = torch.autograd.grad(pen, d.w)
    close(grad_w, 4 * w * x.square().mean(0, keepdim=True), "d(penalty)/dw, through the gradient")


EXERCISES: list[Exercise] = [
    Exercise("stabilisers", 1, "The hinge losses", ("hinge_losses",), check_hinge_losses),
    Exercise(
        "stabilisers",
        2,
        "The largest singular value by power iteration",
        ("spectral_norm_estimate",),
        check_spectral_norm_estimate,
    ),
    Exercise("stabilisers", 3, "A moving average of weights, with a warm-up", ("ema_update",), check_ema_update),
    Exercise("stabilisers", 4, "The R1 penalty, differentiable in D", ("r1_penalty",), check_r1_penalty),
    Exercise(
        "stabilisers",
        5,
        "When does the average start to help?",
        task="Each epoch of the combination's runs logs FID through the moving average (fid) and through the raw "
        "generator (fid_raw): runs/stabilisers/full/better_the_combination/seed*/metrics.jsonl. Plot fid - fid_raw "
        "per epoch for every seed. From which epoch is the difference below 0 in all seeds? Compare with the "
        "average's time constant 1 / (1 - 0.999) = 1,000 steps (468 steps per epoch).",
    ),
]
