"""A generic GAN trainer: alternating D and G steps, checkpoints, exact resume.

The trainer knows nothing model-specific (minGPT's split): it receives a
generator ``G: (B, d) -> (B, C, H, W)``, a discriminator ``D: (B, C, H, W) -> (B,)``
returning logits, a `companion.losses.GANLoss` and an in-memory
`companion.data.ImageSet`. Everything it writes goes into one run folder:

``config.json``, ``metrics.jsonl`` (one record per step and per epoch),
``ckpt.pt`` (atomic, every epoch), ``grids/epoch_XXX.png`` (the fixed latent
batch), ``progress.gif``, ``losses.png`` and ``summary.json``.

Resume is exact: the checkpoint holds both networks, both optimisers, the
data-order and latent RNG states, the epoch and the fixed latent batch, so a
run stopped after epoch k and resumed replays epochs k+1.. bit for bit (on the
CPU with ``deterministic=True``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from companion.artifacts import plot_curves, read_jsonl, save_gif, save_grid, write_json
from companion.checkpoint import GAN_FORMAT, load_checkpoint, load_state, save_atomic
from companion.config import TrainConfig
from companion.data import ImageSet
from companion.errors import TrainingDiverged
from companion.losses import GANLoss

__all__ = ["STEP_FIELDS", "Evaluator", "GANTrainer", "resolve_device"]

#: Per-step quantities, in the order they are stored on the device during an epoch.
STEP_FIELDS = ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm")

#: Called after every epoch with the generator (in eval mode) and the epoch number (1-based).
Evaluator = Callable[[nn.Module, int], dict[str, Any]]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from companion.errors import ConfigError

        raise ConfigError("--device cuda was asked for but no CUDA GPU is available")
    if name == "mps" and not torch.backends.mps.is_available():
        from companion.errors import ConfigError

        raise ConfigError("--device mps was asked for but MPS is not available")
    return torch.device(name)


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


class GANTrainer:
    """Train a GAN with alternating updates and write a complete run folder.

    Args:
        generator: Maps (B, latent_dim) to images in [0, 1].
        discriminator: Maps images to (B,) logits.
        loss: The objective pair (see `companion.losses`).
        data: Training images, already on ``device``.
        cfg: The run's configuration.
        run_dir: Output folder (created by the caller's policy; see ``companion.experiment``).
        device: Where to train.
        meta: Extra JSON-able facts stored in the checkpoint (e.g. the architecture spec).
        evaluate: Optional per-epoch evaluation (e.g. FID); its numbers join the epoch record.
        progress: Show tqdm bars.
    """

    log_every = 25  # steps between host syncs (NaN check and progress bar)

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
        meta: dict[str, Any] | None = None,
        evaluate: Evaluator | None = None,
        progress: bool = True,
    ) -> None:
        self.G, self.D, self.loss, self.data, self.cfg = generator, discriminator, loss, data, cfg
        self.run_dir, self.device, self.meta, self.evaluate, self.progress = (
            run_dir,
            device,
            meta or {},
            evaluate,
            progress,
        )
        self.ckpt_path = run_dir / "ckpt.pt"
        self.metrics_path = run_dir / "metrics.jsonl"
        fused = device.type == "cuda"
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), cfg.lr, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), cfg.lr, betas=betas, fused=fused)
        self.data_rng = torch.Generator().manual_seed(cfg.seed)
        self.latent_rng = torch.Generator(device).manual_seed(cfg.seed + 1)
        self.fixed_z = torch.randn(cfg.n_fixed, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed + 2))
        self.fixed_z = self.fixed_z.to(device)
        self.epoch = 0
        # bf16 autocast where it is fast and safe (CUDA); fp32 elsewhere.
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
        )
        self._g_step = self.G if not cfg.compile else torch.compile(self.G)
        self._d_step = self.D if not cfg.compile else torch.compile(self.D)

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
            "rng": {
                "data": self.data_rng.get_state(),
                "latent": self.latent_rng.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            },
            "fixed_z": self.fixed_z.cpu(),
        }

    def load(self, path: Path) -> None:
        """Restore a checkpoint written by `state` (models, optimisers, RNG, epoch, fixed z)."""
        ck = load_checkpoint(path, GAN_FORMAT)
        load_state(self.G, ck["generator"], path, "generator")
        load_state(self.D, ck["discriminator"], path, "discriminator")
        self.opt_g.load_state_dict(ck["opt_g"])
        self.opt_d.load_state_dict(ck["opt_d"])
        self.data_rng.set_state(ck["rng"]["data"])
        self.latent_rng.set_state(ck["rng"]["latent"])
        torch.set_rng_state(ck["rng"]["torch"])
        if self.device.type == "cuda" and ck["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(ck["rng"]["cuda"])
        self.fixed_z = ck["fixed_z"].to(self.device)
        self.epoch = int(ck["epoch"])

    # --8<-- [end:state]

    # --8<-- [start:step]
    def _train_step(self, real: Tensor, stats_row: Tensor) -> None:
        """One D update then one G update; writes its numbers into ``stats_row`` on the device."""
        cfg, G, D = self.cfg, self._g_step, self._d_step
        z = torch.randn(real.shape[0], cfg.latent_dim, device=self.device, generator=self.latent_rng)
        # Discriminator: real up, fake down. fake is detached so G gets no gradient here.
        with self.autocast:
            fake = G(z)
            real_logits = D(real).float()
            fake_logits = D(fake.detach()).float()
        d_loss = self.loss.discriminator(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # Generator: through the just-updated D; D's weights need no gradient here.
        self.D.requires_grad_(False)
        with self.autocast:
            g_logits = D(fake).float()
        g_loss = self.loss.generator(g_logits)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.D.requires_grad_(True)
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in self.G.parameters() if p.grad is not None])
        self.opt_g.step()
        with torch.no_grad():
            stats_row.copy_(
                torch.stack(
                    [
                        d_loss.detach(),
                        g_loss.detach(),
                        self.loss.score(real_logits).mean(),
                        self.loss.score(fake_logits).mean(),
                        grad_norm,
                    ]
                )
            )

    # --8<-- [end:step]

    @torch.no_grad()
    def sample_fixed(self) -> Tensor:
        """G(fixed z) in eval mode: (n_fixed, C, H, W) in [0, 1] on the CPU."""
        was_training = self.G.training
        self.G.eval()
        try:
            return self.G(self.fixed_z).float().cpu()
        finally:
            self.G.train(was_training)

    def _check_finite(self, values: Tensor, epoch: int, step: int) -> None:
        if not bool(torch.isfinite(values).all()):
            kept = (
                f"the last good checkpoint (epoch {self.epoch}) is kept in {self.ckpt_path}"
                if self.ckpt_path.exists()
                else "no epoch had finished, so there is no checkpoint"
            )
            raise TrainingDiverged(
                f"training diverged: a loss became NaN or infinite at epoch {epoch}, step {step}; {kept}; "
                "try a smaller --lr"
            )

    def _drop_records_after(self, epoch: int) -> None:
        """On resume, forget metrics written after the checkpoint (a kill between the two writes)."""
        records = [r for r in read_jsonl(self.metrics_path) if r["epoch"] <= epoch]
        tmp = self.metrics_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        tmp.replace(self.metrics_path)

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train up to ``cfg.epochs`` and write every artifact; returns the summary.

        Raises:
            TrainingDiverged: a non-finite loss (the previous checkpoint stays on disk).
        """
        from tqdm.auto import tqdm

        cfg = self.cfg
        if resume:
            self.load(self.ckpt_path)
            self._drop_records_after(self.epoch)
        steps = len(self.data) // cfg.batch_size
        if steps == 0:
            from companion.errors import ConfigError

            raise ConfigError(f"batch size {cfg.batch_size} is larger than the {len(self.data)} training images")
        (self.run_dir / "grids").mkdir(parents=True, exist_ok=True)
        with (
            _numerics(cfg.deterministic),
            tqdm(
                total=(cfg.epochs - self.epoch) * steps, disable=not self.progress, unit="step", dynamic_ncols=True
            ) as bar,
        ):
            while self.epoch < cfg.epochs:
                epoch = self.epoch + 1
                bar.set_description(f"{self.loss.name} epoch {epoch}/{cfg.epochs}")
                self.G.train()
                self.D.train()
                stats = torch.zeros(steps, len(STEP_FIELDS), device=self.device)
                t0 = time.perf_counter()
                logged = 0
                for i, real in enumerate(self.data.batches(cfg.batch_size, self.data_rng)):
                    self._train_step(real, stats[i])
                    if (i + 1) % self.log_every == 0 or i + 1 == steps:
                        # One host sync per log_every steps: NaN guard and live losses.
                        last = stats[i].tolist()
                        self._check_finite(stats[logged : i + 1, :2], epoch, i + 1)
                        bar.set_postfix(d=f"{last[0]:.3f}", g=f"{last[1]:.3f}")
                        bar.update(i + 1 - logged)
                        logged = i + 1
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
                rows = stats.cpu()  # every row was already NaN-checked at the log points (the last is step == steps)
                record = self._epoch_record(epoch, rows, seconds)
                save_grid(self.sample_fixed(), self.run_dir / "grids" / f"epoch_{epoch:03d}.png")
                if self.evaluate is not None:
                    self.G.eval()
                    with torch.no_grad():
                        record.update(self.evaluate(self.G, epoch))
                    self.G.train()
                with self.metrics_path.open("a") as f:
                    for i, row in enumerate(rows.tolist()):
                        f.write(
                            json.dumps(
                                {
                                    "type": "step",
                                    "epoch": epoch,
                                    "step": (epoch - 1) * steps + i + 1,
                                    **dict(zip(STEP_FIELDS, row)),
                                }
                            )
                            + "\n"
                        )
                    f.write(json.dumps(record) + "\n")
                self.epoch = epoch
                save_atomic(self.state(), self.ckpt_path)
                bar.write(_epoch_line(record))
        return self.finish()

    def _epoch_record(self, epoch: int, rows: Tensor, seconds: float) -> dict[str, Any]:
        means = rows.mean(0).tolist()
        return {
            "type": "epoch",
            "epoch": epoch,
            **dict(zip(STEP_FIELDS, means)),
            "seconds": seconds,
            "images_per_s": rows.shape[0] * self.cfg.batch_size / seconds,
        }

    def finish(self) -> dict[str, Any]:
        """Write the GIF, loss curves and ``summary.json`` from the run folder's records."""
        records = read_jsonl(self.metrics_path)
        epochs = [r for r in records if r["type"] == "epoch"]
        steps = [r for r in records if r["type"] == "step"]
        frames = sorted((self.run_dir / "grids").glob("epoch_*.png"))[: self.epoch]
        if frames:
            save_gif(frames, self.run_dir / "progress.gif")
        if steps:
            x = [r["step"] for r in steps]
            plot_curves(
                {
                    "D loss": (x, _smooth([r["d_loss"] for r in steps])),
                    "G loss": (x, _smooth([r["g_loss"] for r in steps])),
                },
                self.run_dir / "losses.png",
                xlabel="step",
                ylabel="loss (moving average over 25 steps)",
                title=f"{self.loss.name} loss",
            )
        last = epochs[-1] if epochs else {}
        fids = [r["fid"] for r in epochs if r.get("fid") is not None]
        summary = {
            "loss": self.loss.name,
            "epochs": self.epoch,
            "final": last,
            "best_fid": min(fids) if fids else None,
            "train_seconds": sum(r["seconds"] for r in epochs),
            "device": str(self.device),
            **self.meta,
        }
        write_json(summary, self.run_dir / "summary.json")
        return summary


def _smooth(values: list[float], window: int = 25) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _epoch_line(r: dict[str, Any]) -> str:
    parts = [
        f"epoch {r['epoch']}",
        f"D {r['d_loss']:.3f}",
        f"G {r['g_loss']:.3f}",
        f"D(x) {r['d_real']:.2f}",
        f"D(G(z)) {r['d_fake']:.2f}",
        f"{r['images_per_s']:.0f} img/s",
    ]
    if r.get("fid") is not None:
        parts.append(f"FID {r['fid']:.2f}")
    if r.get("modes") is not None:
        parts.append(f"modes {r['modes']}/10")
    return "  ".join(parts) + ("" if math.isfinite(r["d_loss"]) else "  (non-finite)")
