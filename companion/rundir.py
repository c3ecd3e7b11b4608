"""The run-folder policy: what a run folder holds, and when it may be replaced.

A run folder is recognised by its ``config.json``, which carries ``"format": RUN_FORMAT``.
The policy never loses data:

* a folder holding a run is refused unless ``--resume`` (continue it) or ``--overwrite``;
* ``--overwrite`` applies only to a recognisable run, and deletes only the files a run writes
  (`RUN_FILES` and the per-epoch files in `RUN_SUBDIRS`); anything else in the folder stays;
* every check runs before anything changes on disk (``dry=True`` runs the checks alone), so a
  refused command leaves the folder as it was;
* temporary files left by a killed write (``.NAME.tmp-PID``) are removed when a run starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from companion.errors import ConfigError, OutputError
from companion.fsutil import check_output_dir, remove_stale_temps

__all__ = ["RUN_FILES", "RUN_FORMAT", "RUN_SUBDIRS", "clear_run", "is_run", "prepare_run_dir"]

RUN_FORMAT = "companion-run/1"
#: Files a run writes at its top level.
RUN_FILES = (
    "config.json",
    "metrics.jsonl",
    "ckpt.pt",
    "summary.json",
    "progress.gif",
    "losses.png",
    "epochs.png",
)
#: Sub-folders a run writes, with the pattern of the files it puts there.
RUN_SUBDIRS = {"grids": "epoch_*.png", "fixed": "epoch_*.npy"}


def is_run(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder/config.json`` is a run configuration written by this package."""
    cfg = Path(folder) / "config.json"
    try:
        return json.loads(cfg.read_text()).get("format") == RUN_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _has_run_files(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).exists() for name in RUN_FILES)


def clear_run(folder: str | os.PathLike[str]) -> None:
    """Delete what a run wrote in ``folder``; leave every other file."""
    folder = Path(folder)
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    for sub, pattern in RUN_SUBDIRS.items():
        d = folder / sub
        if d.is_dir():
            for f in d.glob(pattern):
                f.unlink()
            if not any(d.iterdir()):
                d.rmdir()
    remove_stale_temps(folder)


def prepare_run_dir(out: str | os.PathLike[str], *, resume: bool, overwrite: bool, dry: bool = False) -> Path:
    """Apply the run-folder policy to ``out``; with ``dry=True`` only check.

    Raises:
        ConfigError: contradictory flags, another run in the way, nothing to resume, or a
            folder to overwrite that is not a run.
        OutputError: ``out`` cannot be a writable folder.
    """
    out = Path(out)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other; pick one")
    check_output_dir(out)
    if resume:
        if not (out / "ckpt.pt").is_file():
            raise ConfigError(f"--resume: there is no checkpoint {out / 'ckpt.pt'} to resume from")
        if not dry:
            remove_stale_temps(out)
        return out
    if _has_run_files(out):
        if not overwrite:
            raise ConfigError(f"{out} already holds a run; pass --resume to continue it or --overwrite to replace it")
        if not is_run(out):
            raise ConfigError(
                f"--overwrite refused: {out} is not a companion run folder (no config.json with format "
                f"{RUN_FORMAT}); nothing was deleted"
            )
    if dry:
        return out
    try:
        if overwrite:
            clear_run(out)
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)
    except OSError as exc:
        raise OutputError(f"cannot prepare the run folder {out}: {exc.strerror or exc}") from None
    return out
