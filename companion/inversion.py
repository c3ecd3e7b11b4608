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
generated ones inverts in one forward pass, approximately.

**The hybrid** (Zhu et al., 2020, *In-Domain GAN Inversion*) starts the optimisation at E(x):
a good start needs few steps and one restart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion.checkpoint import ENCODER_FORMAT, load_checkpoint, load_state, save_atomic
from companion.errors import CheckpointError, CompanionError, DataError
from companion.options import (
    check_choice,
    check_finite_positive,
    check_nonnegative,
    check_positive,
    check_seed,
)

__all__ = [
    "Encoder",
    "EncoderConfig",
    "InversionConfig",
    "InversionResult",
    "check_images",
    "fit_latent",
    "generator_fingerprint",
    "load_encoder",
    "train_encoder",
]


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


class Encoder(nn.Module):
    """E: image -> latent, a DCGAN-style conv net (three strided convs, BN, LeakyReLU, linear head).

    Shapes:
        x: (B, C, 28, 28) in [0, 1] (or 64x64 with ``image_size=64``); returns (B, latent_dim).
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 28, width: int = 64) -> None:
        super().__init__()
        w = width
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1),
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1),
            nn.BatchNorm2d(4 * w),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.net(torch.zeros(1, channels, image_size, image_size)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, 512), nn.LeakyReLU(0.2, True), nn.Linear(512, latent_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.net(x * 2 - 1))


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder training settings."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    latent_weight: float = 0.1  # lambda_z: weight of ||E(G(z)) - z||^2 against the pixel loss
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        from companion.device import DEVICES

        check_positive(self, "epochs", "batch_size")
        check_finite_positive(self, "lr")
        check_nonnegative(self, "latent_weight")
        check_seed(self)
        check_choice("device", self.device, DEVICES)


#: What an encoder checkpoint must hold.
ENCODER_KEYS = ("epoch", "generator_fingerprint", "latent_dim", "channels", "image_size", "encoder", "opt", "rng")


def generator_fingerprint(generator: nn.Module) -> str:
    """A short hash of G's weights: an encoder is valid only for the generator it was trained against."""
    h = hashlib.sha256()
    for k, v in sorted(generator.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train_encoder(
    generator: nn.Module,
    images: Tensor,
    cfg: EncoderConfig,
    out: Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    r"""Train E against a frozen G on the book's training scaffold; checkpoint every epoch; resumable.

    Loss per batch: $\mathrm{MSE}(G(E(x)), x) + \lambda_z \mathrm{MSE}(E(G(z)), z)$.

    Args:
        generator: Frozen G (its latent_dim fixes E's output size); its flags are restored afterwards.
        images: (N, C, H, W) uint8 training images, on the training device.
        cfg: Settings.
        out: Run folder, already prepared (``ckpt.pt``, ``metrics.jsonl``, ``summary.json``;
            `companion.artifacts.render_run` draws ``losses.png``).
        resume: Continue from ``out/ckpt.pt``.

    Raises:
        ConfigError: the batch is larger than the data.
        CheckpointError: resuming from an encoder of another generator.
        TrainingDiverged: a loss became NaN or exploded (the last good checkpoint stays).
    """
    from companion.data import ImageSet
    from companion.device import resolve_device
    from companion.loop import Guard, run_epochs, steps_per_epoch
    from companion.rundir import RUN_FORMAT
    from companion.runlog import RunLog

    device = resolve_device(cfg.device)
    steps = steps_per_epoch(images.shape[0], cfg.batch_size)
    G = generator.to(device)
    params = list(G.parameters())
    flags, was_training = [p.requires_grad for p in params], G.training
    G.eval().requires_grad_(False)
    c, h = images.shape[1], images.shape[2]
    torch.manual_seed(cfg.seed)
    E = Encoder(G.latent_dim, c, h).to(device)
    # A constant learning rate: a schedule tied to the epoch count would make "train k epochs, then
    # resume to K" differ from "train K epochs", and resume must be exact.
    opt = torch.optim.Adam(E.parameters(), cfg.lr, betas=(0.9, 0.999))
    data_rng = torch.Generator().manual_seed(cfg.seed)
    z_rng = torch.Generator().manual_seed(cfg.seed + 1)
    fp = generator_fingerprint(G)
    ckpt, log = out / "ckpt.pt", RunLog(out / "metrics.jsonl")
    state = {"epoch": 0}
    if resume:
        ck = load_checkpoint(ckpt, ENCODER_FORMAT, keys=ENCODER_KEYS)
        if ck["generator_fingerprint"] != fp:
            raise CheckpointError(f"{ckpt} was trained against another generator")
        load_state(E, ck["encoder"], ckpt, "encoder")
        opt.load_state_dict(ck["opt"])
        data_rng.set_state(ck["rng"]["data"])
        z_rng.set_state(ck["rng"]["z"])
        state["epoch"] = int(ck["epoch"])
        log.trim(state["epoch"])
    else:
        from companion.artifacts import write_json

        write_json(
            {"format": RUN_FORMAT, "kind": "encoder", "config": dataclasses.asdict(cfg), "generator_fingerprint": fp},
            out / "config.json",
        )
    data = ImageSet(images, None, "encoder-train")

    def step(x: Tensor, row: Tensor) -> None:
        z = torch.randn(cfg.batch_size, G.latent_dim, generator=z_rng).to(device)
        with torch.no_grad():
            xg = G(z)
        rec = F.mse_loss(G(E(x)), x)
        lat = F.mse_loss(E(xg), z)
        loss = rec + cfg.latent_weight * lat
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        row.copy_(torch.stack([rec.detach(), lat.detach()]))

    def save(epoch: int) -> None:
        state["epoch"] = epoch
        save_atomic(
            {
                "format": ENCODER_FORMAT,
                "epoch": epoch,
                "config": dataclasses.asdict(cfg),
                "generator_fingerprint": fp,
                "latent_dim": G.latent_dim,
                "channels": c,
                "image_size": h,
                "encoder": E.state_dict(),
                "opt": opt.state_dict(),
                "rng": {"data": data_rng.get_state(), "z": z_rng.get_state()},
            },
            ckpt,
        )

    E.train()
    try:
        run_epochs(
            fields=("recon_mse", "latent_mse"),
            step=step,
            batches=lambda: data.batches(cfg.batch_size, data_rng),
            steps=steps,
            start=state["epoch"],
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            device=device,
            guard=Guard(watch=("recon_mse", "latent_mse")),
            log=log,
            save=save,
            checkpoint=ckpt,
            progress=progress,
            desc="encoder",
            log_every=50,
        )
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)
        G.train(was_training)
    recs = log.read("epoch")
    summary = {"epochs": state["epoch"], "final": recs[-1] if recs else {}, "generator_fingerprint": fp}
    from companion.artifacts import write_json

    write_json(summary, out / "summary.json")
    return summary


def load_encoder(path: str | Path, generator: nn.Module, device: torch.device | str = "cpu") -> Encoder:
    """Load an encoder checkpoint, refusing one trained for another generator."""
    ck = load_checkpoint(path, ENCODER_FORMAT, keys=ENCODER_KEYS)
    if ck["generator_fingerprint"] != generator_fingerprint(generator):
        raise CheckpointError(f"{path} is an encoder for another generator (fingerprints differ)")
    E = Encoder(int(ck["latent_dim"]), int(ck["channels"]), int(ck["image_size"]))
    load_state(E, ck["encoder"], path, "encoder")
    return E.to(device).eval()


def check_images(images: Tensor, shape: tuple[int, int, int], what: str = "images") -> Tensor:
    """Validate and convert user images to float (N, C, H, W) in [0, 1] matching G's output shape.

    Accepts uint8 (0..255) or float in [0, 1]; (N, H, W) is read as one channel.

    Raises:
        DataError: empty, wrong size or channels, or float values outside [0, 1].
    """
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or images.shape[0] == 0:
        raise DataError(f"{what} must be a non-empty (N, C, H, W) or (N, H, W) array, got shape {tuple(images.shape)}")
    if tuple(images.shape[1:]) != tuple(shape):
        raise DataError(f"{what} have shape {tuple(images.shape[1:])} per image but the generator makes {tuple(shape)}")
    if images.dtype == torch.uint8:
        return images.float() / 255
    images = images.float()
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise DataError(
            f"{what}: float values must lie in [0, 1] (found {float(images.min()):.3g} to "
            f"{float(images.max()):.3g}); pass uint8 for 0..255"
        )
    return images
