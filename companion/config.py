"""Training configuration: one frozen dataclass, presets, strict overrides.

Every default lives on one screen in `TrainConfig`. A preset is a named set of overrides
(``quick`` for a few CPU minutes, ``full`` for the course report's settings), and
command-line ``--key value`` pairs override on top. The dataclass validates itself, so an
unknown key, an ill-typed or out-of-range value is rejected with one line wherever it comes from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from companion.errors import ConfigError
from companion.options import (
    check_choice,
    check_finite_positive,
    check_nonnegative,
    check_positive,
    check_seed,
    parse_value,
)

__all__ = ["PRESETS", "TrainConfig", "make_config", "train_choices"]


# --8<-- [start:config]
@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a GAN training run (defaults: the report's setup)."""

    dataset: str = "mnist"  # mnist | fashion-mnist | celeba | synthetic
    arch: str = "report28"  # report28 (28x28, the report's) | dcgan64 (Radford et al.)
    loss: str = "nonsaturating"  # minimax | nonsaturating | lsgan | hinge
    epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-4  # Adam's step for G (and for D unless lr_d is set)
    lr_d: float = 0.0  # D's own step (two time-scale rule); 0: the same as lr
    beta1: float = 0.5  # Adam betas as in DCGAN; the report gave only the lr
    beta2: float = 0.999
    latent_dim: int = 100
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # auto (bf16 where the hardware has it natively) | fp32 | bf16
    train_subset: int = 0  # use only the first N training images (0: all)
    fid_samples: int = 5000  # generated images per FID evaluation (0: no FID)
    n_fixed: int = 64  # size of the fixed latent batch shown every epoch
    deterministic: bool = False  # bit-exact resume on CPU (deterministic kernels)
    compile: str = "off"  # off | default (torch.compile) | reduce-overhead (compile + CUDA graphs, GPU only)
    spectral_norm: bool = False  # spectrally normalise every weight of D (chapter 4)
    r1_gamma: float = 0.0  # weight of the R1 penalty on real data (0: off)
    r1_every: int = 16  # lazy R1: every N steps, scaled by N
    ema: float = 0.0  # decay of an exponential moving average of G used for sampling (0: off)
    # --8<-- [end:config]

    def __post_init__(self) -> None:
        if isinstance(self.compile, bool):  # configs written when the switch was a bool
            object.__setattr__(self, "compile", "default" if self.compile else "off")
        for name, allowed in train_choices().items():
            check_choice(name, getattr(self, name), allowed)
        check_positive(self, "epochs", "batch_size", "latent_dim", "n_fixed")
        check_nonnegative(self, "train_subset", "fid_samples")
        check_finite_positive(self, "lr")
        check_nonnegative(self, "lr_d", "r1_gamma")
        check_positive(self, "r1_every")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must lie in [0, 1), got {self.ema}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("beta1 and beta2 must lie in [0, 1)")
        check_seed(self)


def train_choices() -> dict[str, Iterable[str]]:
    """The registries that name the allowed values of `TrainConfig`'s string fields."""
    from companion.data import DATASETS
    from companion.device import COMPILE_MODES, DEVICES, PRECISIONS
    from companion.losses import LOSSES
    from companion.models import ARCHS

    return {
        "dataset": DATASETS,
        "arch": ARCHS,
        "loss": LOSSES,
        "device": DEVICES,
        "precision": PRECISIONS,
        "compile": COMPILE_MODES,
    }


PRESETS: dict[str, dict[str, Any]] = {
    # About 3 CPU minutes per loss on 2 cores: the first 5 epochs, where the losses differ most
    # (minimax's stall); with --seed 0 it retraces the start of chapter 1's seed-0 runs.
    "quick": {"epochs": 5, "fid_samples": 2000},
    # The report's experiment: 20 epochs over all 60,000 MNIST digits.
    "full": {"epochs": 20, "fid_samples": 5000},
    # --8<-- [start:better]
    # Chapter 4's combination of what helped in its 3-seed ablation, at the report's budget (20 epochs):
    # the hinge loss, and sampling from an EMA of G. The report's pair, learning rate and BatchNorm stay.
    "better": {
        "epochs": 20,
        "fid_samples": 5000,
        "loss": "hinge",
        "ema": 0.999,
    },
    # --8<-- [end:better]
}


def make_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """Build a validated config from a preset and overrides.

    Args:
        preset: ``"quick"``, ``"full"`` or None for the plain defaults.
        **overrides: field values (strings are parsed to the field's type; None means not given).

    Raises:
        ConfigError: for an unknown preset or option, or an invalid value.
    """
    values: dict[str, Any] = {}
    if preset is not None:
        check_choice("preset", preset, PRESETS)
        values.update(PRESETS[preset])
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = parse_value(key, raw, TrainConfig)
    return dataclasses.replace(TrainConfig(), **values)
