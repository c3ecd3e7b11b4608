"""A run folder's metrics log: JSON lines, appended atomically, trimmed exactly on resume.

Every training loop in the book (GAN, encoder, classifier) writes one record per step and one
per epoch into ``metrics.jsonl``. A record always has ``type`` (``"step"`` or ``"epoch"``) and
``epoch``. Appending rewrites the file through `companion.fsutil.atomic_write`: a kill during
the write leaves the previous file whole. A file cut short by other means (a partial last line,
e.g. copied mid-write) is read without its broken tail, and `RunLog.trim` rewrites it clean.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from companion.errors import CompanionError
from companion.fsutil import atomic_write

__all__ = ["RunLog", "read_jsonl"]


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of a JSON-lines file; an absent file has none, a partial last line is dropped.

    Raises:
        CompanionError: a line other than the last does not parse (the file was damaged).
    """
    path = Path(path)
    if not path.is_file():
        return []
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    out = []
    for i, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # what a kill during a plain append leaves: ignore it, trim() rewrites the file
            raise CompanionError(f"{path} is damaged at line {i + 1} (not JSON); move it away to start over") from None
    return out


class RunLog:
    """The ``metrics.jsonl`` of one run folder.

    Args:
        path: The log file (created on the first append).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self, kind: str | None = None) -> list[dict[str, Any]]:
        """All records, or only those of ``kind`` (``"step"`` / ``"epoch"``)."""
        records = read_jsonl(self.path)
        return records if kind is None else [r for r in records if r.get("type") == kind]

    def _write(self, records: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in records)
        atomic_write(self.path, lambda f: f.write(text.encode()))

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Add records at the end; all of them or none reach the disk."""
        self._write([*self.read(), *records])

    def trim(self, epoch: int) -> None:
        """Keep only records of epochs <= ``epoch`` (those written after the checkpoint are replayed on resume)."""
        self._write([r for r in self.read() if r.get("epoch", 0) <= epoch])
