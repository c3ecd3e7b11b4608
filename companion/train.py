"""The GAN trainer: alternating D and G steps on the book's one training scaffold.

The trainer knows nothing model-specific (minGPT's split): it receives a generator
``G: (B, d) -> (B, C, H, W)``, a discriminator ``D: (B, C, H, W) -> (B,)`` returning logits,
a `companion.losses.GANLoss` and an in-memory `companion.data.ImageSet`. The epoch loop,
the divergence guard and the metrics log are `companion.loop.run_epochs`'. It draws
nothing: it writes numbers and arrays into the run folder, and
`companion.artifacts.render_run` turns them into figures.

Run folder: ``config.json`` (by the caller), ``metrics.jsonl`` (a record per step and per
epoch), ``ckpt.pt`` (atomic, every epoch), ``fixed/epoch_XXX.npy`` (the fixed latent batch
after each epoch, uint8) and ``summary.json``.

Resume is exact: the checkpoint holds both networks, both optimisers, the data-order and
latent RNG states, the epoch and the fixed latent batch, so a run stopped after epoch k and
resumed replays epochs k+1.. bit for bit (on the CPU with ``deterministic=True``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from companion.checkpoint import GAN_FORMAT, load_checkpoint, load_state, save_atomic
from companion.config import TrainConfig
from companion.data import ImageSet
from companion.device import autocast, compiled
from companion.distributed import World, all_mean, wrap
from companion.fsutil import atomic_write
from companion.loop import Guard, run_epochs, steps_per_epoch
from companion.losses import GANLoss
from companion.pixels import to_uint8
from companion.runlog import RunLog
from companion.stabilisers import EMA, r1_penalty
from companion.streams import RandomStreams

__all__ = ["CKPT_KEYS", "STEP_FIELDS", "Evaluator", "GANTrainer", "grad_norm", "write_summary"]

#: Per-step quantities, in the order they are stored on the device during an epoch. ``fake_spread``
#: is the per-pixel standard deviation over the generated batch, averaged: 0 means every sample is
#: the same image (the guard stops such a run; chapter 1 plots it as a mode-collapse signal).
STEP_FIELDS = ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "fake_spread")

#: What a GAN checkpoint must hold.
CKPT_KEYS = ("meta", "config", "epoch", "generator", "discriminator", "opt_g", "opt_d", "rng", "fixed_z")

#: Called after every epoch with the generator (in eval mode) and the epoch number (1-based).
Evaluator = Callable[[nn.Module, int], dict[str, Any]]


def grad_norm(params: Iterator[nn.Parameter] | list[nn.Parameter]) -> Tensor:
    r"""Global L2 norm of the gradients, $\sqrt{\sum_p \lVert \nabla_p \rVert_2^2}$, on the device (no sync)."""
    norms = [torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


@contextlib.contextmanager
def _numerics(deterministic: bool) -> Iterator[None]:
    """Run-wide numeric settings, restoring the caller's afterwards.

    Deterministic kernels when asked (exact resume). Denormal floats flushed to
    zero on the CPU: a saturated minimax run drives gradients below 1e-38, and
    x86 CPUs process such denormals ~10x slower (measured: 2,800 -> 260 images/s).
    """
    before = torch.are_deterministic_algorithms_enabled()
    if deterministic:
        torch.use_deterministic_algorithms(True)
    flushed = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        if flushed:
            torch.set_flush_denormal(False)


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    """``summary.json`` of a run folder, atomically."""
    from companion.artifacts import write_json

    write_json(summary, run_dir / "summary.json")


class GANTrainer:
    """Train a GAN with alternating updates and write the run folder's data.

    Args:
        generator: Maps (B, latent_dim) to images in [0, 1].
        discriminator: Maps images to (B,) logits.
        loss: The objective pair (see `companion.losses`).
        data: Training images, already on ``device``.
        cfg: The run's configuration.
        run_dir: Output folder (created by the caller's policy; see ``companion.experiment``).
        device: Where to train.
        precision: ``fp32`` or ``bf16`` (resolved; see `companion.device.resolve_precision`).
        meta: Extra JSON-able facts stored in the checkpoint (e.g. the architecture spec).
        evaluate: Optional per-epoch evaluation (e.g. FID); its numbers join the epoch record.
        progress: Show tqdm bars.
        guard: When to stop a failing run (default: `companion.loop.Guard` on both losses and
            the sample spread).
        world: This process's place in a multi-process run (see `companion.distributed`); rank 0
            alone writes the run folder.
    """

    log_every = 25  # steps between host syncs (guard and progress bar)

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: GANLoss,
        data: ImageSet,
        cfg: TrainConfig,
        run_dir: Path,
        *,
        device: torch.device,
        precision: str = "fp32",
        meta: dict[str, Any] | None = None,
        evaluate: Evaluator | None = None,
        progress: bool = True,
        guard: Guard | None = None,
        world: World = World(),  # noqa: B008 - a frozen dataclass
    ) -> None:
        self.world = world
        # Under DDP the wrapped modules take the training steps; G and D stay the plain modules
        # (their state dicts are what checkpoints hold, loadable by a single process).
        g_step, d_step = wrap(generator, world, device), wrap(discriminator, world, device)
        if world.distributed:
            generator, discriminator = g_step.module, d_step.module
        self.G, self.D, self.loss, self.data, self.cfg = generator, discriminator, loss, data, cfg
        self.run_dir, self.device, self.evaluate, self.progress = run_dir, device, evaluate, progress
        self.precision = precision
        self.meta = {**(meta or {}), "precision": precision}
        self.guard = guard or Guard(watch=("d_loss", "g_loss"), spread="fake_spread", finite=("g_grad_norm",))
        self.ckpt_path = run_dir / "ckpt.pt"
        self.log = RunLog(run_dir / "metrics.jsonl")
        fused = device.type == "cuda"
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), cfg.lr, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), cfg.lr_d or cfg.lr, betas=betas, fused=fused)
        self.ema = EMA(self.G, cfg.ema) if cfg.ema > 0 else None
        self._step = 0  # global step (for lazy R1), restored from the epoch on resume
        self.rng = RandomStreams.seeded(cfg.seed, cfg.n_fixed, cfg.latent_dim, device, world.rank)
        self.epoch = 0
        self.autocast = autocast(precision, device)
        self._g_step = compiled(g_step, cfg.compile, device)
        self._d_step = compiled(d_step, cfg.compile, device)
        # The G step runs D's plain module: its weights are frozen there, so DDP must not wait for them.
        self._d_plain = self._d_step if not world.distributed else self.D

    # --8<-- [start:state]
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this epoch ended."""
        return {
            "format": GAN_FORMAT,
            "meta": self.meta,
            "config": dataclasses.asdict(self.cfg),
            "epoch": self.epoch,
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.state(self.world, self.device),
            "fixed_z": self.rng.fixed_z.cpu(),
            **({"generator_ema": self.ema.state_dict()} if self.ema is not None else {}),
        }

    def load(self, path: Path) -> None:
        """Restore a checkpoint written by `state` (models, optimisers, RNG, epoch, fixed z)."""
        ck = load_checkpoint(path, GAN_FORMAT, keys=CKPT_KEYS)
        load_state(self.G, ck["generator"], path, "generator")
        load_state(self.D, ck["discriminator"], path, "discriminator")
        self.opt_g.load_state_dict(ck["opt_g"])
        self.opt_d.load_state_dict(ck["opt_d"])
        self.rng.load(ck["rng"], ck["fixed_z"], self.world, self.device)
        self.epoch = int(ck["epoch"])
        if self.ema is not None:
            if "generator_ema" not in ck:
                from companion.errors import CheckpointError

                raise CheckpointError(f"{path} lacks the entry 'generator_ema' that a run with --ema must hold")
            load_state(self.ema.module, ck["generator_ema"], path, "generator_ema")

    # --8<-- [end:state]

    # --8<-- [start:step]
    def _train_step(self, real: Tensor, stats_row: Tensor) -> None:
        """One D update then one G update; writes its numbers into ``stats_row`` on the device."""
        cfg, G, D = self.cfg, self._g_step, self._d_step
        z = torch.randn(real.shape[0], cfg.latent_dim, device=self.device, generator=self.rng.latent)
        # Discriminator: real up, fake down. fake is detached so G gets no gradient here.
        with self.autocast:
            fake = G(z)
            real_logits = D(real).float()
            fake_logits = D(fake.detach()).float()
        d_loss = self.loss.discriminator(real_logits, fake_logits)
        d_total = d_loss
        if cfg.r1_gamma > 0 and self._step % cfg.r1_every == 0:
            # Lazy R1 (in float32, through D's plain module): the same expected penalty, 1/r1_every of the cost.
            d_total = d_loss + cfg.r1_gamma * cfg.r1_every * r1_penalty(self._d_plain, real)
        self._step += 1
        self.opt_d.zero_grad(set_to_none=True)
        d_total.backward()
        self.opt_d.step()
        # Generator: through the just-updated D; D's weights need no gradient here.
        self.D.requires_grad_(False)
        with self.autocast:
            g_logits = self._d_plain(fake).float()
        g_loss = self.loss.generator(g_logits)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.D.requires_grad_(True)
        norm = grad_norm(self.G.parameters())
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update(self.G, self._step - 1)  # _step already counts this step
        with torch.no_grad():
            stats_row.copy_(
                torch.stack(
                    [
                        d_loss.detach(),
                        g_loss.detach(),
                        self.loss.score(real_logits).mean(),
                        self.loss.score(fake_logits).mean(),
                        norm,
                        fake.detach().float().std(0).mean(),
                    ]
                )
            )

    # --8<-- [end:step]

    @property
    def sampler(self) -> nn.Module:
        """The generator samples and FID come from: the moving average when --ema is on, else G."""
        return self.ema.module if self.ema is not None else self.G

    @torch.no_grad()
    def sample_fixed(self) -> Tensor:
        """The sampler on the fixed z in eval mode: (n_fixed, C, H, W) in [0, 1] on the CPU."""
        G = self.sampler
        was_training = G.training
        G.eval()
        try:
            return G(self.rng.fixed_z).float().cpu()
        finally:
            G.train(was_training)

    def _end_epoch(self, epoch: int, rows: Tensor) -> dict[str, Any]:
        """The fixed batch as uint8 (drawn later by render_run), then the evaluation."""
        images = to_uint8(self.sample_fixed()).numpy()
        path = self.run_dir / "fixed" / f"epoch_{epoch:03d}.npy"

        def write(f: io.BufferedWriter) -> None:
            np.save(f, images)

        atomic_write(path, write)
        if self.evaluate is None:
            return {}
        self.G.eval()
        try:
            with torch.no_grad():
                out = self.evaluate(self.sampler, epoch)
                if self.ema is not None:  # the raw generator too: what the average adds
                    out["fid_raw"] = self.evaluate(self.G, epoch).get("fid")
                return out
        finally:
            self.G.train()

    def _save(self, epoch: int) -> None:
        self.epoch = epoch
        state = self.state()  # every rank takes part (the latent states are gathered)
        if self.world.main:
            save_atomic(state, self.ckpt_path)

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train up to ``cfg.epochs``; returns the summary (also written to ``summary.json``).

        Raises:
            ConfigError: the batch is larger than the data.
            TrainingDiverged: the guard stopped the run (the previous checkpoint stays on disk).
            OutputError: the run folder could not be written (the previous checkpoint stays).
        """
        cfg, world = self.cfg, self.world
        steps = steps_per_epoch(len(self.data) // world.size, cfg.batch_size)
        if resume:
            self.load(self.ckpt_path)
            if world.main:
                self.log.trim(self.epoch)
        self._step = self.epoch * steps
        self.G.train()
        self.D.train()
        main = world.main
        with _numerics(cfg.deterministic):
            run_epochs(
                fields=STEP_FIELDS,
                step=self._train_step,
                batches=lambda: self.data.batches(cfg.batch_size, self.rng.data, shard=(world.rank, world.size)),
                steps=steps,
                start=self.epoch,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size * world.size,
                device=self.device,
                guard=self.guard,
                log=self.log if main else None,
                save=self._save,
                checkpoint=self.ckpt_path,
                end_epoch=self._end_epoch if main else None,
                progress=self.progress and main,
                desc=self.loss.name,
                log_every=self.log_every,
                reduce=lambda t: all_mean(t, world),
                verbose=main,
            )
        if not main:
            return {}
        return self.summarize()

    def summarize(self) -> dict[str, Any]:
        """``summary.json`` from the run folder's records (the data; figures come from render_run)."""
        epochs = self.log.read("epoch")
        fids = [r["fid"] for r in epochs if r.get("fid") is not None]
        summary = {
            "loss": self.loss.name,
            "epochs": self.epoch,
            "final": epochs[-1] if epochs else {},
            "best_fid": min(fids) if fids else None,
            "train_seconds": sum(r["seconds"] for r in epochs),
            "device": str(self.device),
            **self.meta,
        }
        write_summary(self.run_dir, summary)
        return summary
