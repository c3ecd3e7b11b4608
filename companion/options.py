"""Configuration plumbing shared by every settings dataclass and every command.

* One validation style: each frozen settings dataclass checks itself in ``__post_init__``
  with the helpers below (`check_positive`, `check_choice`, ...), so an invalid object cannot
  exist, whether it comes from the command line, a preset or a saved checkpoint.
* One option generator: `add_options` turns a dataclass's fields into ``--key value`` options
  (choices listed from the registries), and `from_args` builds the dataclass back, parsing each
  string to the field's type with `parse_value`.
* `OneLineParser`: argparse whose errors are one line and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from companion.errors import ConfigError

__all__ = [
    "OneLineParser",
    "add_options",
    "check_choice",
    "check_finite_positive",
    "check_nonnegative",
    "check_positive",
    "check_seed",
    "from_args",
    "parse_value",
]

MAX_SEED = 2**63 - 1


class OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def check_positive(obj: Any, *names: str) -> None:
    """Each named field must be > 0 (NaN fails)."""
    for name in names:
        v = getattr(obj, name)
        if not v > 0:
            raise ConfigError(f"{name} must be positive, got {v}")


FLOAT32_MAX = 3.4028234663852886e38


def check_finite_positive(obj: Any, *names: str) -> None:
    """Each named field must be a number > 0 that float32 can hold (the tensors it scales are float32)."""
    for name in names:
        v = getattr(obj, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 < v <= FLOAT32_MAX):
            raise ConfigError(f"{name} must be a finite positive number, got {v}")


def check_nonnegative(obj: Any, *names: str) -> None:
    """Each named field must be >= 0 (and finite)."""
    for name in names:
        v = getattr(obj, name)
        if not (v >= 0 and math.isfinite(v)):
            raise ConfigError(f"{name} must be >= 0, got {v}")


def check_seed(obj: Any, name: str = "seed") -> None:
    """A seed must fit torch's generator: 0 <= seed <= 2**63 - 1."""
    v = getattr(obj, name)
    if not 0 <= v <= MAX_SEED:
        raise ConfigError(f"{name} must lie in 0..2**63-1, got {v}")


def check_choice(name: str, value: str, choices: Iterable[str], what: str | None = None) -> None:
    """``value`` must be one of ``choices`` (a registry's keys)."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"unknown {what or name} '{value}'; choose from {', '.join(choices)}")


def _field_types(cls: type) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def parse_value(name: str, raw: Any, cls: type) -> Any:
    """Convert ``raw`` (often a string from the command line) to the type of field ``name`` of ``cls``.

    Raises:
        ConfigError: ``name`` is not a field of ``cls``, or the value does not parse.
    """
    types = _field_types(cls)
    if name not in types:
        raise ConfigError(f"unknown option '{name}'; known: {', '.join(sorted(types))}")
    kind = types[name]
    if not isinstance(raw, str):
        return raw
    try:
        if kind in ("bool", str(bool)):
            low = raw.lower()
            if low not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return low in ("1", "true", "yes")
        if kind in ("int", str(int)):
            return int(raw)
        if kind in ("float", str(float)):
            return float(raw)
    except ValueError:
        raise ConfigError(f"option '{name}' expects {kind}, got '{raw}'") from None
    return raw


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    skip: Sequence[str] = (),
    choices: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Add ``--field-name VALUE`` for every field of dataclass ``cls`` (default None = not given).

    Args:
        parser: Where to add the options.
        cls: A settings dataclass.
        skip: Fields that the command sets itself.
        choices: Field -> allowed values, shown in the help (the dataclass validates them).
    """
    choices = choices or {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        allowed = choices.get(f.name)
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            default=None,
            metavar="{" + ",".join(allowed) + "}" if allowed else str(f.type).upper(),
            help=f"default {f.default!r}",
        )


def from_args(cls: type, args: argparse.Namespace | Mapping[str, Any], base: Any = None, **fixed: Any) -> Any:
    """Build ``cls`` from parsed options: fields given on the command line override ``base`` (or the defaults).

    Raises:
        ConfigError: a value does not parse or the resulting settings are invalid.
    """
    given = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    values = {
        f.name: parse_value(f.name, given[f.name], cls)
        for f in dataclasses.fields(cls)
        if given.get(f.name) is not None
    }
    values.update(fixed)
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def given_options(cls: type, args: argparse.Namespace) -> set[str]:
    """Names of the fields of ``cls`` that were set on the command line."""
    return {f.name for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


Validator = Callable[[Any], None]
