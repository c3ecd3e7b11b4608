"""Atomic checkpoint files, checked when loaded: format, integrity, keys, finite weights.

A checkpoint is written through `companion.fsutil.atomic_write`, so a crash or ``kill -9``
mid-write leaves the previous checkpoint intact. It carries a SHA-256 digest of its own
content (every tensor's dtype, shape and bytes, every key and plain value), verified on load:
a flipped bit in the weights is caught instead of silently sampling garbage.

Loading uses ``torch.load(weights_only=True)``: a file that holds arbitrary Python objects (a
pickle that could run code) is refused, never loaded. Then the ``format`` tag, the digest and
the keys the caller needs are checked, each failure a one-line `CheckpointError`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from companion.errors import CheckpointError
from companion.fsutil import atomic_write

__all__ = [
    "CLASSIFIER_FORMAT",
    "ENCODER_FORMAT",
    "GAN_FORMAT",
    "GLO_FORMAT",
    "content_digest",
    "load_checkpoint",
    "load_state",
    "require_finite",
    "save_atomic",
]

GAN_FORMAT = "companion-gan/1"
ENCODER_FORMAT = "companion-encoder/1"
CLASSIFIER_FORMAT = "companion-classifier/1"
GLO_FORMAT = "companion-glo/1"
_DIGEST_KEY = "sha256"


def _feed(h: Any, obj: Any) -> None:
    """Hash ``obj`` by structure and value; dict order does not matter, tensor layout does not either."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(b"D")
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(b"L" if isinstance(obj, list) else b"U")
        for v in obj:
            _feed(h, v)
    else:
        h.update(f"{type(obj).__name__}:{obj!r}".encode())


def content_digest(obj: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint dictionary's content, excluding its own digest entry."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in obj.items() if k != _DIGEST_KEY})
    return h.hexdigest()


def save_atomic(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` ``obj`` plus its content digest to ``path``, atomically.

    Raises:
        OutputError: the file could not be written; the previous checkpoint stays.
    """
    stamped = {**obj, _DIGEST_KEY: content_digest(obj)}
    atomic_write(path, lambda f: torch.save(stamped, f))


def load_checkpoint(
    path: str | os.PathLike[str], expected_format: str | tuple[str, ...], keys: Iterable[str] = ()
) -> dict[str, Any]:
    """Load and validate a checkpoint dictionary on the CPU.

    Args:
        path: The file, or ``book:NAME`` for a model shipped with the book (`companion.bookmodels`:
            read from safetensors, checked against its manifest's digest, never unpickled).
        expected_format: Its ``format`` tag, e.g. `GAN_FORMAT`, or a tuple of the tags accepted.
        keys: Entries the caller will read; a missing one is named in the error.

    Raises:
        CheckpointError: missing, unreadable, a pickle with code, another kind, altered since it
            was written, or lacking one of ``keys``.
    """
    from companion.bookmodels import is_book_ref, load_book

    accepted = (expected_format,) if isinstance(expected_format, str) else expected_format
    if is_book_ref(path):
        obj = load_book(path)
        return _checked(obj, path, accepted, keys)
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" not in str(exc):  # no Python object was asked for: the bytes are simply not a checkpoint
            raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or not a torch file)") from None
        # torch's message suggests weights_only=False: never for a file that may be hostile.
        raise CheckpointError(
            f"{path} was refused: it holds Python objects other than tensors and plain data, which could run "
            "code when loaded; companion reads only checkpoints it wrote itself"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or not a torch file): {first}") from None
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if fmt in accepted:
        if _DIGEST_KEY not in obj:
            raise CheckpointError(f"{path} has no integrity digest (written by an older version, or edited): refused")
        if obj[_DIGEST_KEY] != content_digest(obj):
            raise CheckpointError(f"{path} fails its integrity check: its content changed after it was written")
    return _checked(obj, path, accepted, keys)


def _checked(obj: Any, path: Any, accepted: tuple[str, ...], keys: Iterable[str]) -> dict[str, Any]:
    """``obj`` when it is one of the ``accepted`` formats and holds ``keys``; else a one-line error."""
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if fmt not in accepted:
        raise CheckpointError(f"{path} is not a {' or '.join(accepted)} checkpoint (found format {fmt!r})")
    missing = [k for k in keys if k not in obj]
    if missing:
        what = "a model shipped with the book" if str(path).startswith("book:") else f"a {fmt} checkpoint"
        raise CheckpointError(f"{path} lacks the entry '{missing[0]}' that {what} must hold here")
    return obj


def require_finite(state: dict[str, Any], path: str | os.PathLike[str], what: str) -> None:
    """Refuse weights holding NaN or Inf (a run saved after diverging would make blank images)."""
    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path}: the {what} weights contain NaN or Inf (in {bad[0]}); refusing to use them")


def load_state(module: nn.Module, state: dict[str, Any], path: str | os.PathLike[str], what: str) -> None:
    """``load_state_dict`` with a one-line error when the shapes or keys do not fit."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else "")
        raise CheckpointError(f"{path}: the {what} weights do not fit this architecture ({detail[:160]})") from None
