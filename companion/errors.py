"""The one exception type that reaches a reader as a one-line message.

Everything a user can get wrong (a missing file, a bad shape, a foreign
checkpoint, a diverged run, an output that cannot be written) raises
`CompanionError`. The command line prints its message on one line to stderr
and exits with status 2, so readers never see a traceback for their own
mistakes; a traceback means a bug here.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "CompanionError", "ConfigError", "DataError", "OutputError", "TrainingDiverged"]


class CompanionError(Exception):
    """A problem with the user's input or environment, reported in one line."""

    exit_code = 2


class ConfigError(CompanionError):
    """An unknown option, a bad value or an inconsistent setting."""


class DataError(CompanionError):
    """Data that is missing, cannot be downloaded, or has the wrong shape."""


class CheckpointError(CompanionError):
    """A checkpoint that is corrupt, foreign, tampered with, or of another architecture."""


class OutputError(CompanionError):
    """An output location that cannot be written (a file in the way, no permission, a full disk)."""


class TrainingDiverged(CompanionError):
    """A loss became NaN, infinite or absurdly large, or the samples collapsed; the last good checkpoint is kept."""
