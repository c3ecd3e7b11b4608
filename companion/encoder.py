r"""Training and loading the encoder of chapter 2: $E: x \mapsto z$ against a frozen generator.

Loss per batch: $\lVert G(E(x)) - x \rVert^2$ on real images plus $\lambda_z \lVert E(G(z)) - z\rVert^2$
on generated ones (`train_encoder`). An encoder is valid only for the generator it was trained
against: its checkpoint holds that generator's fingerprint (`generator_fingerprint`), and
`load_encoder` refuses any other.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from companion.checkpoint import ENCODER_FORMAT, load_checkpoint, load_state, save_atomic
from companion.errors import CheckpointError
from companion.models.encoder import Encoder
from companion.options import check_choice, check_finite_positive, check_nonnegative, check_positive, check_seed

__all__ = ["ENCODER_KEYS", "Encoder", "EncoderConfig", "generator_fingerprint", "load_encoder", "train_encoder"]


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
    ck = load_checkpoint(
        path, ENCODER_FORMAT, keys=("generator_fingerprint", "latent_dim", "channels", "image_size", "encoder")
    )
    if ck["generator_fingerprint"] != generator_fingerprint(generator):
        raise CheckpointError(f"{path} is an encoder for another generator (fingerprints differ)")
    E = Encoder(int(ck["latent_dim"]), int(ck["channels"]), int(ck["image_size"]))
    load_state(E, ck["encoder"], path, "encoder")
    return E.to(device).eval()
