"""What the command families share: output checks before any work, the PSNR line, option help."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from companion.device import DEVICES
from companion.errors import CompanionError

__all__ = ["DEVICE_HELP", "check_outputs", "psnr_line"]

DEVICE_HELP = f"one of {', '.join(DEVICES)}"


def check_outputs(out: Path, inputs: Sequence[Path | None], *siblings: str) -> list[Path]:
    """Check ``out`` and its sibling outputs (``out`` stem + suffix) before any work; none may be an input."""
    from companion.fsutil import check_output_file

    check_output_file(out, ".npy")
    paths = [out, *(out.with_name(out.stem + s) for s in siblings)]
    given = {p.resolve() for p in inputs if p is not None}
    for p in paths:
        if p.resolve() in given:
            raise CompanionError(f"--out would overwrite the input {p}; choose another output name")
        if p.is_dir():
            raise CompanionError(f"the output {p} is a folder, not a file")
    return paths


def psnr_line(recon: Tensor, x: Tensor) -> str:
    """The PSNR a command prints: the mean and median of the per-image values (`companion.metrics.psnr`)."""
    from companion.metrics import psnr

    p = psnr(recon, x)
    return f"PSNR (mean of per-image values) {float(p.mean()):.2f} dB, median {float(p.median()):.2f} dB"
