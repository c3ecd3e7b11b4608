"""Configuration: presets, typed overrides, rejection of unknown keys and bad values."""

from __future__ import annotations

import dataclasses

import pytest

from companion.config import PRESETS, TrainConfig, make_config
from companion.errors import ConfigError


def test_defaults_are_the_reports_settings() -> None:
    c = TrainConfig()
    assert (c.arch, c.latent_dim, c.batch_size, c.lr, c.epochs) == ("report28", 100, 128, 2e-4, 20)


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 3  # type: ignore[misc]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_apply(preset: str) -> None:
    assert make_config(preset).epochs == PRESETS[preset]["epochs"]


def test_string_overrides_are_typed() -> None:
    c = make_config("quick", lr="0.001", epochs="3", deterministic="true", loss="lsgan")
    assert c.lr == 0.001 and c.epochs == 3 and c.deterministic is True and c.loss == "lsgan"


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"learning_rate": "1"}, "unknown option 'learning_rate'"),
        ({"epochs": "ten"}, "expects int"),
        ({"epochs": "0"}, "epochs must be positive"),
        ({"batch_size": "-4"}, "batch_size must be positive"),
        ({"lr": "0"}, "lr must be a finite positive number"),
        ({"dataset": "cifar"}, "unknown dataset"),
        ({"loss": "wgan"}, "unknown loss"),
        ({"device": "tpu"}, "unknown device"),
        ({"deterministic": "maybe"}, "expects bool"),
    ],
)
def test_bad_values_are_rejected(overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_config(None, **overrides)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        make_config("huge")
