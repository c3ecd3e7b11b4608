r"""GAN inversion: find z with G(z) close to x, three ways.

**Latent optimisation** minimises a pixel loss over z with G frozen (eval mode, so each image
is independent of the rest of the batch):

$$
z^\star = \arg\min_z \; \ell\big(A(G(z)), y\big) + \lambda \lVert z \rVert^2,
\qquad \ell \in \{\text{MSE}, \text{L1}\},
$$

where $A$ is the identity for inversion and a degradation for restoration (chapter 3). The
objective is non-convex in z, so the choices below decide whether it works:

* several random restarts, run as one batch, keeping the restart with the lowest data loss;
* a large enough step (Adam, lr 0.1) with a cosine decay, so z travels far early and settles late;
* a prior that keeps z where G was trained: z ~ N(0, I_d) concentrates on the sphere of radius
  $\sqrt d$, so z is projected back onto it after every step (``prior="sphere"``), or penalised
  with $\lambda \lVert z\rVert^2$ (``prior="l2"``);
* early stopping once the loss stops improving.

A single start at lr 0.01 without a prior (the course report's attempt) stalls in the first
basin it meets.

**An encoder** $E: x \mapsto z$ trained against the frozen G with
$\lVert G(E(x)) - x \rVert^2$ on real images plus $\lambda_z \lVert E(G(z)) - z\rVert^2$ on
generated ones inverts in one forward pass, approximately (`companion.encoder`).

**The hybrid** (Zhu et al., 2020, *In-Domain GAN Inversion*) starts the optimisation at E(x):
a good start needs few steps and one restart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from companion.errors import CompanionError
from companion.options import (
    check_choice,
    check_finite_positive,
    check_nonnegative,
    check_positive,
    check_seed,
)

__all__ = ["InversionConfig", "InversionResult", "fit_latent"]


DATA_LOSSES = ("mse", "l1")
PRIORS = ("sphere", "l2", "none")
SCHEDULES = ("cosine", "none")


# --8<-- [start:config]
@dataclass(frozen=True)
class InversionConfig:
    """Latent optimisation settings (defaults: the ones that work on MNIST)."""

    steps: int = 500
    restarts: int = 8  # random starts per image, optimised together as one batch
    lr: float = 0.1  # Adam's step on z
    loss: str = "mse"  # mse | l1: the data term
    prior: str = "sphere"  # sphere (project onto |z| = sqrt(d)) | l2 (penalty) | none
    prior_weight: float = 1e-3  # lambda of the l2 prior
    schedule: str = "cosine"  # cosine | none
    patience: int = 100  # stop when the loss improved < 1e-4 (relative) over this many steps; 0: never
    init_noise: float = 0.0  # with a given start z0: restarts at z0 + init_noise * N(0, I)
    seed: int = 0
    # --8<-- [end:config]

    def __post_init__(self) -> None:
        check_nonnegative(self, "steps", "prior_weight", "init_noise", "patience")
        check_positive(self, "restarts")
        check_finite_positive(self, "lr")
        check_choice("loss", self.loss, DATA_LOSSES, "data loss")
        check_choice("prior", self.prior, PRIORS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_seed(self)


@dataclass
class InversionResult:
    """What `fit_latent` found.

    Attributes:
        z: (N, d) best latent per image.
        images: (N, C, H, W) G(z) in [0, 1].
        data_loss: (N,) the data term at z.
        all_losses: (N, restarts) the final data term of every restart (data_loss is its row minimum).
        steps: Steps actually run (early stopping may end sooner).
        history: (step, compute, metric) triples, compute = step x restarts; the metric is the
            caller's ``track`` function of the current best images (e.g. PSNR to the clean image).
        seconds: Wall-clock time.
    """

    z: Tensor
    images: Tensor
    data_loss: Tensor
    all_losses: Tensor
    steps: int
    history: list[tuple[int, int, float]] = field(default_factory=list)
    seconds: float = 0.0


def _data_loss(kind: str, pred: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
    """Per-sample data term: mean over the (known) entries of squared or absolute error."""
    diff = pred - target
    err = diff.square() if kind == "mse" else diff.abs()
    if mask is None:
        return err.flatten(1).mean(1)
    m = mask.expand_as(err).flatten(1)
    return (err.flatten(1) * m).sum(1) / m.sum(1).clamp_min(1)


def _project(z: Tensor) -> Tensor:
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-12))


# --8<-- [start:fit]
def fit_latent(
    generator: nn.Module,
    target: Tensor,
    cfg: InversionConfig = InversionConfig(),
    *,
    operator: Callable[[Tensor], Tensor] | None = None,
    mask: Tensor | None = None,
    z0: Tensor | None = None,
    track: Callable[[Tensor], float] | None = None,
    track_every: int = 10,
) -> InversionResult:
    """Optimise z so that operator(G(z)) matches target, for a batch of images at once.

    Args:
        generator: G, used in eval mode and never updated.
        target: (N, ...) observations y = A(x) (for inversion: the images, (N, C, H, W) in [0, 1]).
        cfg: Optimisation settings.
        operator: A, mapping G's (B, C, H, W) output to the observation space (default: identity).
        mask: Optional known-entry mask broadcastable to target (inpainting): the loss sees only these.
        z0: (N, d) starting latents (the hybrid's E(x)); else z ~ N(0, I).
        track: Called every ``track_every`` steps on the current best (N, C, H, W) images.
        track_every: Steps between ``track`` calls.

    Returns:
        InversionResult with the best restart per image.
    """
    t0 = time.perf_counter()
    # G is used frozen; its flags and mode are restored afterwards, also when this raises.
    was_training = generator.training
    params = list(generator.parameters())
    flags = [p.requires_grad for p in params]
    generator.eval().requires_grad_(False)
    try:
        out = _optimise(generator, target, cfg, operator, mask, z0, track, track_every)
    except RuntimeError as exc:
        if "overflow" not in str(exc):
            raise
        raise CompanionError(
            f"latent optimisation diverged (the step overflowed) with lr {cfg.lr:g}; use a smaller --lr"
        ) from None
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)
        generator.train(was_training)
    out.seconds = time.perf_counter() - t0
    if not torch.isfinite(out.z).all():
        raise CompanionError(
            f"latent optimisation diverged (z became NaN or infinite) with lr {cfg.lr:g}; use a smaller --lr"
        )
    return out


def _optimise(generator, target, cfg, operator, mask, z0, track, track_every) -> InversionResult:
    device = target.device
    n, r = target.shape[0], cfg.restarts
    d = z0.shape[1] if z0 is not None else generator.latent_dim
    g = torch.Generator().manual_seed(cfg.seed)
    # Row i*r + k is restart k of image i; drawn as (r, n, d) so that restart 0 is exactly the
    # single-start run with the same seed.
    noise = torch.randn(r, n, d, generator=g).transpose(0, 1).reshape(n * r, d).to(device)
    z = noise if z0 is None else z0.detach().repeat_interleave(r, 0) + cfg.init_noise * noise
    if cfg.prior == "sphere":
        z = _project(z)
    z.requires_grad_(True)
    y = target.repeat_interleave(r, 0)
    m = None if mask is None else (mask.repeat_interleave(r, 0) if mask.shape[0] == n else mask)
    A = operator or (lambda v: v)
    opt = torch.optim.Adam([z], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, cfg.steps)) if cfg.schedule == "cosine" else None
    history: list[tuple[int, int, float]] = []
    best_total, since = math.inf, 0

    def best(data: Tensor) -> tuple[Tensor, Tensor]:
        idx = data.view(n, r).argmin(1) + torch.arange(n, device=device) * r
        return idx, data[idx]

    steps_run = 0
    for step in range(cfg.steps + 1):
        x = generator(z)
        data = _data_loss(cfg.loss, A(x), y, m)
        if track is not None and (step % track_every == 0 or step == cfg.steps):
            with torch.no_grad():
                idx, _ = best(data.detach())
                history.append((step, step * r, float(track(x.detach()[idx]))))
        if step == cfg.steps:
            break
        # Each row (image x restart) is its own problem: data_i + lambda |z_i|^2, summed so that
        # every row's gradient is exactly that of its own objective, whatever n and r are.
        per_row = data + cfg.prior_weight * z.square().sum(1) if cfg.prior == "l2" else data
        total = per_row.sum()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if cfg.prior == "sphere":
            with torch.no_grad():
                z.copy_(_project(z))
        steps_run = step + 1
        if cfg.patience and step % 10 == 0:  # a host sync only every 10 steps
            value = total.detach().item()
            if value < best_total * (1 - 1e-4):
                best_total, since = value, 0
            else:
                since += 10
                if since >= cfg.patience:
                    break
    with torch.no_grad():
        x = generator(z)
        data = _data_loss(cfg.loss, A(x), y, m)
        idx, best_data = best(data)
        return InversionResult(z.detach()[idx], x[idx].clamp(0, 1), best_data, data.view(n, r), steps_run, history)


# --8<-- [end:fit]
