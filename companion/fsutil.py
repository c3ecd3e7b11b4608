"""Writing files so that a crash, a kill or a full disk never leaves half a file behind.

Every file the book writes goes through `atomic_write`: the bytes go to a hidden temporary
file beside the target (``.NAME.tmp-PID``) and are renamed over it, which POSIX makes atomic.
An ``OSError`` (no space, read-only folder, a parent that is a file) becomes one
`companion.errors.OutputError` line naming the path; the previous version of the file stays.

`check_output_file` and `check_output_dir` validate an output location *before* any work
starts, so a long computation never ends in an unwritable path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from companion.errors import OutputError

__all__ = ["TMP_MARK", "atomic_write", "check_output_dir", "check_output_file", "remove_stale_temps"]

#: Temporary files are named ``.<target name>.tmp-<pid>``; only such names are ever cleaned up.
TMP_MARK = ".tmp-"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file, then rename it to ``path`` (parents are created).

    Args:
        path: The file to create or replace.
        write: Writes the content into the open file object.

    Raises:
        OutputError: the file could not be written (the old file, if any, is unchanged).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as RuntimeError
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return path


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files a killed process left in ``folder`` (only names made by `atomic_write`)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(f".*{TMP_MARK}*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """Check that ``path`` is, or can become, a writable folder; change nothing.

    Raises:
        OutputError: ``path`` is a file, lies under a file, or in a folder that cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is a file, not a folder")
    base = _first_existing(path)
    if not base.is_dir():
        raise OutputError(f"{what} {path} cannot be created: {base} is a file")
    # Permission bits say nothing for root, a read-only mount or an immutable folder: ask the
    # file system itself with a probe file, removed at once.
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise OutputError(f"{what} {path} cannot be written: {base}: {_reason(exc)}") from None
    return path


def check_output_file(
    path: str | os.PathLike[str], suffix: str | tuple[str, ...] | None = None, what: str = "--out"
) -> Path:
    """Check that ``path`` can be written as a file (right suffix, not a folder, writable parent).

    Args:
        suffix: The suffix the file must have, or a tuple of the suffixes accepted.

    Raises:
        OutputError: wrong suffix, ``path`` is a folder, or its folder cannot be created or written.
    """
    path = Path(path)
    accepted = (suffix,) if isinstance(suffix, str) else suffix
    if accepted is not None and path.suffix not in accepted:
        raise OutputError(f"{what} must end in {' or '.join(accepted)}, got {path}")
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder, not a file")
    check_output_dir(path.parent, what=f"the folder of {what}")
    return path
