"""Atomic checkpoint files and their validated loading.

A checkpoint is written to a temporary file in the same folder and renamed over
the old one, so a crash or ``kill -9`` mid-write leaves the previous checkpoint
intact. Loading uses ``torch.load(weights_only=True)`` (no arbitrary pickles)
and checks the file's ``format`` tag, so a corrupt file, a foreign ``.pt`` or a
checkpoint of another kind fails with one clear line.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from companion.errors import CheckpointError

__all__ = ["CLASSIFIER_FORMAT", "ENCODER_FORMAT", "GAN_FORMAT", "load_checkpoint", "load_state", "save_atomic"]

GAN_FORMAT = "companion-gan/1"
ENCODER_FORMAT = "companion-encoder/1"
CLASSIFIER_FORMAT = "companion-classifier/1"


def save_atomic(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to ``path`` via a temp file + rename (atomic on POSIX)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: str | os.PathLike[str], expected_format: str) -> dict[str, Any]:
    """Load and validate a checkpoint dictionary on the CPU.

    Raises:
        CheckpointError: missing, unreadable, not a companion checkpoint, or of another kind.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or not a torch file): {first}") from None
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if fmt != expected_format:
        raise CheckpointError(f"{path} is not a {expected_format} checkpoint (found format {fmt!r})")
    return obj


def load_state(module: nn.Module, state: dict[str, Any], path: str | os.PathLike[str], what: str) -> None:
    """``load_state_dict`` with a one-line error when the shapes or keys do not fit."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else "")
        raise CheckpointError(f"{path}: the {what} weights do not fit this architecture ({detail[:160]})") from None
