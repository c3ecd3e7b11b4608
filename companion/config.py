"""Training configuration: one frozen dataclass, two presets, strict overrides.

Every default lives on one screen in `TrainConfig`. A preset is a named
set of overrides (``quick`` for a few CPU minutes, ``full`` for the course
report's settings), and command-line ``--key value`` pairs override on top.
Unknown keys and ill-typed values are rejected with a one-line error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from companion.errors import ConfigError

__all__ = ["PRESETS", "TrainConfig", "make_config", "parse_value"]


# --8<-- [start:config]
@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a GAN training run (defaults: the report's setup)."""

    dataset: str = "mnist"  # mnist | fashion-mnist | celeba | synthetic
    arch: str = "report28"  # report28 (28x28, the report's) | dcgan64 (Radford et al.)
    loss: str = "nonsaturating"  # minimax | nonsaturating | lsgan
    epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5  # Adam betas as in DCGAN; the report gave only the lr
    beta2: float = 0.999
    latent_dim: int = 100
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    train_subset: int = 0  # use only the first N training images (0: all)
    fid_samples: int = 5000  # generated images per FID evaluation (0: no FID)
    n_fixed: int = 64  # size of the fixed latent batch shown every epoch
    deterministic: bool = False  # bit-exact resume on CPU (deterministic kernels)
    compile: bool = False  # torch.compile the models (pays off on a GPU)


# --8<-- [end:config]


PRESETS: dict[str, dict[str, Any]] = {
    # A few CPU minutes per loss on 2 cores; enough for recognisable digits.
    "quick": {"epochs": 10, "fid_samples": 2000},
    # The report's experiment: 20 epochs over all 60,000 MNIST digits.
    "full": {"epochs": 20, "fid_samples": 5000},
}


def parse_value(name: str, raw: Any, cls: type | None = None) -> Any:
    """Convert ``raw`` (often a string from the command line) to the field's type.

    Raises:
        ConfigError: if ``name`` is not a field of ``cls`` or the value does not parse.
    """
    types = {f.name: f.type for f in fields(cls or TrainConfig)}
    if name not in types:
        raise ConfigError(f"unknown option '{name}'; known: {', '.join(sorted(types))}")
    kind = types[name]
    if not isinstance(raw, str):
        return raw
    try:
        if kind in ("bool", bool):
            low = raw.lower()
            if low not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return low in ("1", "true", "yes")
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"option '{name}' expects {kind}, got '{raw}'") from None
    return raw


def make_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """Build a validated config from a preset and overrides.

    Args:
        preset: ``"quick"``, ``"full"`` or None for the plain defaults.
        **overrides: field values (strings are parsed to the field's type).

    Raises:
        ConfigError: for an unknown preset or option, or an invalid value.
    """
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset '{preset}'; choose from {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = parse_value(key, raw)
    cfg = dataclasses.replace(TrainConfig(), **values)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Reject values no run could use, with the reason in one line."""
    from companion.data import DATASETS
    from companion.losses import LOSSES
    from companion.models import ARCHS

    if cfg.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset '{cfg.dataset}'; choose from {', '.join(DATASETS)}")
    if cfg.loss not in LOSSES:
        raise ConfigError(f"unknown loss '{cfg.loss}'; choose from {', '.join(LOSSES)}")
    if cfg.arch not in ARCHS:
        raise ConfigError(f"unknown arch '{cfg.arch}'; choose from {', '.join(ARCHS)}")
    for name in ("epochs", "batch_size", "latent_dim", "n_fixed"):
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(cfg, name)}")
    for name in ("train_subset", "fid_samples"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if not cfg.lr > 0:
        raise ConfigError(f"lr must be positive, got {cfg.lr}")
    if not (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1):
        raise ConfigError("beta1 and beta2 must lie in [0, 1)")
    if cfg.device not in ("auto", "cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device '{cfg.device}'; choose from auto, cpu, cuda, mps")
