"""Compose a training run from a config: data, models, trainer, FID, run folder, figures.

This is the glue between the generic trainer (`companion.train`) and the model-specific
parts (`companion.models`, `companion.data`); the CLI and the chapter scripts call it, so
they train identically. Everything that can be refused (options, data, the run folder, the
batch size) is checked before anything is written.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from companion.artifacts import render_run, write_json
from companion.checkpoint import GAN_FORMAT, GLO_FORMAT, load_checkpoint, load_state, require_finite
from companion.config import TrainConfig
from companion.data import ImageSet, load_dataset
from companion.device import resolve_device, resolve_precision
from companion.distributed import World, setup, teardown
from companion.errors import CheckpointError, ConfigError
from companion.loop import steps_per_epoch
from companion.losses import get_loss
from companion.models import ARCHS, ArchSpec, build_gan, build_generator
from companion.pixels import to_uint8
from companion.rundir import RUN_FORMAT, prepare_run_dir
from companion.train import CKPT_KEYS, GANTrainer

__all__ = ["generate", "latent_law", "load_generator", "run_training", "training_data"]


def _resumed_config(out: Path, given: TrainConfig, explicit: set[str]) -> tuple[TrainConfig, dict[str, Any]]:
    """The saved run's config and meta; only ``epochs`` (to extend) and ``device`` may change on resume."""
    ck = load_checkpoint(out / "ckpt.pt", GAN_FORMAT, keys=CKPT_KEYS)
    saved = ck["config"]
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    if set(saved) - names:
        raise ConfigError(
            f"{out / 'ckpt.pt'} was written by another version (unknown keys {sorted(set(saved) - names)})"
        )
    cfg = TrainConfig(**saved)
    for key in explicit:
        if key in ("epochs", "device"):
            continue
        if getattr(given, key) != getattr(cfg, key):
            raise ConfigError(
                f"--resume continues the saved run, whose {key} is {getattr(cfg, key)!r}, not {getattr(given, key)!r}"
            )
    cfg = dataclasses.replace(cfg, epochs=given.epochs if "epochs" in explicit else cfg.epochs, device=given.device)
    return cfg, ck["meta"]


def training_data(cfg: TrainConfig, data_dir: str | os.PathLike[str] | None, split: str = "train") -> ImageSet:
    """The dataset for ``cfg`` at its architecture's size, on the CPU."""
    data = load_dataset(cfg.dataset, split, data_dir, progress=True)
    if split == "train":
        data = data.subset(cfg.train_subset)
    return data.resized(ARCHS[cfg.arch].image_size)


def _scorer(cfg: TrainConfig, data: ImageSet, data_dir, device, progress: bool, fid_features: str):
    """The per-epoch FID scorer, or None where it cannot apply (no labels, no FID asked)."""
    if cfg.fid_samples == 0 or (data.labels is None and fid_features != "inception"):
        return None
    from companion.metrics import FIDScorer, get_classifier

    classifier = get_classifier(cfg.dataset, data_dir, device, progress) if data.labels is not None else None
    if data.shape[1] != 28 and fid_features == "classifier":
        return None  # the digit classifier reads 28x28 only
    real = training_data(cfg, data_dir, "test").images
    return FIDScorer(classifier, real, device, features=fid_features)


def run_training(
    cfg: TrainConfig,
    out: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    explicit: set[str] | None = None,
    progress: bool = True,
    fid_features: str = "classifier",
    command: str | None = None,
    render: bool = True,
) -> dict[str, Any]:
    """Train one GAN as ``cfg`` says and write its run folder ``out``.

    Args:
        cfg: Validated configuration.
        out: Run folder.
        data_dir: Data folder override.
        resume: Continue the run in ``out`` (its saved config wins; see ``_resumed_config``).
        overwrite: Replace an existing run in ``out`` (only the files a run writes are deleted).
        explicit: Names of options the user set explicitly (checked against the saved run on resume).
        progress: tqdm bars and per-epoch lines.
        fid_features: ``classifier`` or ``inception``.
        command: The command line to record in ``config.json``.
        render: Draw the run's figures at the end (`companion.artifacts.render_run`).

    Returns:
        The summary written to ``summary.json``.
    """
    out = Path(out)
    prepare_run_dir(out, resume=resume, overwrite=overwrite, dry=True)
    saved_meta: dict[str, Any] = {}
    if resume:
        cfg, saved_meta = _resumed_config(out, cfg, explicit or set())
    device = resolve_device(cfg.device)
    world = setup(device.type)  # one process, or one of torchrun's
    try:
        summary = _train(cfg, out, world, device, saved_meta, data_dir, resume, overwrite, progress, fid_features,
                         command)  # fmt: skip
    finally:
        teardown(world)  # the trainer and its DDP wrappers are gone now (see teardown: a SIGABRT otherwise)
    if render and world.main:
        render_run(out)
    return summary


def _train(
    cfg: TrainConfig,
    out: Path,
    world: World,
    device: torch.device,
    saved_meta: dict[str, Any],
    data_dir: str | os.PathLike[str] | None,
    resume: bool,
    overwrite: bool,
    progress: bool,
    fid_features: str,
    command: str | None,
) -> dict[str, Any]:
    """`run_training`'s body inside the process group: every object that holds the group dies with it."""
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    # A resumed run keeps the precision it started with, wherever it continues.
    precision = saved_meta.get("precision") or resolve_precision(cfg.precision, device)
    data = training_data(cfg, data_dir)  # may fail with DataError before anything is written
    steps_per_epoch(len(data) // world.size, cfg.batch_size)
    scorer = _scorer(cfg, data, data_dir, device, progress, fid_features) if world.main else None
    if world.main:
        prepare_run_dir(out, resume=resume, overwrite=overwrite)

    spec = ArchSpec(cfg.arch, data.shape[0], cfg.latent_dim)
    torch.manual_seed(cfg.seed)
    G, D = build_gan(spec)
    if cfg.spectral_norm:
        from companion.stabilisers import apply_spectral_norm

        D = apply_spectral_norm(D)
    fmt = torch.channels_last if device.type != "mps" else torch.contiguous_format  # ~1.5x faster convs on CPU
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)
    meta = {
        "arch": spec.to_dict(),
        "dataset": cfg.dataset,
        "fid_features": fid_features if scorer else None,
        "world_size": world.size,
    }

    def evaluate(generator: nn.Module, epoch: int) -> dict[str, Any]:
        return scorer.score_generator(generator, cfg.fid_samples, cfg.latent_dim)

    if not resume and world.main:
        write_json(
            {
                "format": RUN_FORMAT,
                "kind": "gan",
                "config": dataclasses.asdict(cfg),
                **meta,
                "precision": precision,
                "command": command or " ".join(sys.argv),
                "torch": torch.__version__,
            },
            out / "config.json",
        )
    trainer = GANTrainer(
        G,
        D,
        get_loss(cfg.loss),
        data.to(device),
        cfg,
        out,
        device=device,
        precision=precision,
        meta=meta,
        evaluate=evaluate if scorer else None,
        progress=progress,
        world=world,
    )
    return trainer.fit(resume=resume)


def load_generator(
    path: str | os.PathLike[str], device: torch.device | str = "cpu", ema: bool = True
) -> tuple[nn.Module, ArchSpec, dict]:
    """Rebuild the generator of a GAN or GLO checkpoint, in eval mode (its moving average when it has one and ``ema``).

    The same kind of module comes out of both: chapter 1's GAN and chapter 5's GLO train the
    report's generator, and the checkpoint's format says which did.

    Returns:
        (generator, its ArchSpec, the checkpoint's config dict).

    Raises:
        CheckpointError: missing, corrupt, foreign or altered file, a missing entry, weights of
            another architecture, or weights holding NaN/Inf.
    """
    ck = load_checkpoint(path, (GAN_FORMAT, GLO_FORMAT), keys=("meta", "config"))
    try:
        spec = ArchSpec(**ck["meta"]["arch"])
    except (KeyError, TypeError, ConfigError):
        raise CheckpointError(f"{path} has no valid architecture description") from None
    key = "generator_ema" if ema and "generator_ema" in ck else "generator"
    if key not in ck:  # a shipped model keeps only the weights it is sampled with (its EMA)
        only = " (it ships its EMA only)" if "generator_ema" in ck else ""
        raise CheckpointError(f"{path} lacks the entry '{key}'{only}")
    require_finite(ck[key], path, key)
    G = build_generator(spec)
    load_state(G, ck[key], path, key)
    return G.to(device).eval(), spec, ck["config"]


def latent_law(
    path: str | os.PathLike[str], sampler: str | None = None
) -> tuple[str, Callable[[int, torch.Generator], torch.Tensor] | None]:
    """How to draw latents for the generator of ``path``: (name, ``codes(n, rng)`` or None for z ~ N(0, I)).

    A GAN's latents are z ~ N(0, I) (``sampler`` must be None or ``normal``). A GLO model has no
    law of its own: its fitted samplers (`companion.latent_samplers.load_samplers`) are offered by
    name, and the default is the one its training measured best (stored with the samplers), else
    the first of `companion.latent_samplers.SAMPLERS` it has.

    Raises:
        ConfigError: a sampler the model does not have.
    """
    from companion.latent_samplers import load_samplers

    ck = load_checkpoint(path, (GAN_FORMAT, GLO_FORMAT))
    if ck["format"] == GAN_FORMAT:
        if sampler not in (None, "normal"):
            raise ConfigError(f"a GAN is sampled with z ~ N(0, I) only; --sampler {sampler} is for a GLO model")
        return "normal", None
    laws = load_samplers(ck)
    name = sampler or ck.get("samplers", {}).get("default") or next(iter(laws))
    if name not in laws:
        raise ConfigError(
            f"{path} has no fitted '{name}' sampler; it has: {', '.join(laws)}"
            + (" (companion glo train fits all three at the end of a run)" if name in ("imle", "gmm") else "")
        )
    return name, laws[name]


@torch.no_grad()
def generate(
    generator: nn.Module,
    n: int,
    latent_dim: int,
    seed: int = 0,
    batch: int = 1000,
    device: torch.device | str = "cpu",
    codes: Callable[[int, torch.Generator], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``n`` samples as uint8 (n, C, H, W), from latents drawn with ``seed`` (reproducible on any device).

    The latents are z ~ N(0, I) (a GAN's), or ``codes(k, rng)`` for a model whose latents have
    another law (GLO's fitted sampler, `companion.latent_samplers`).
    """
    g = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, n, batch):
        k = min(batch, n - start)
        z = codes(k, g) if codes is not None else torch.randn(k, latent_dim, generator=g)
        chunks.append(to_uint8(generator(z.to(device)).float()).cpu())
    return torch.cat(chunks)
