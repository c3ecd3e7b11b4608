"""Summaries across seeds: a claim about training rests on several runs, with the spread shown.

`band` reduces per-seed series (one value per epoch) to mean, min, max and standard deviation
per epoch; `mean_std` does it for one number per seed (`mean_std_text` prints it); `leading_run`
counts how many epochs a run spent in a state from its start (e.g. the minimax stall: D(G(z)) below 0.01).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["band", "count", "leading_run", "mean_std", "mean_std_text"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    r"""Mean and sample standard deviation $s = \sqrt{\tfrac{1}{n-1}\sum_i (v_i - \bar v)^2}$ (0 for one value).

    Raises:
        ValueError: no values.
    """
    n = len(values)
    if n == 0:
        raise ValueError("mean_std of no values")
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def band(series: Sequence[Sequence[float]]) -> dict[str, list[float]]:
    """Per-position mean, min, max and sample std over equally long series (one per seed).

    Args:
        series: ``series[s][e]`` is seed s's value at epoch e + 1.

    Returns:
        ``{"mean": [...], "min": [...], "max": [...], "std": [...]}``, one entry per epoch.

    Raises:
        ValueError: no series, or series of different lengths.
    """
    if not series or len({len(s) for s in series}) != 1:
        raise ValueError("band needs at least one series, all of the same length")
    cols = list(zip(*series))
    stats = [mean_std(c) for c in cols]
    return {
        "mean": [m for m, _ in stats],
        "min": [min(c) for c in cols],
        "max": [max(c) for c in cols],
        "std": [s for _, s in stats],
    }


def leading_run(values: Sequence[float], inside: Callable[[float], bool]) -> int:
    """How many values from the first one on satisfy ``inside`` (0 if the first does not)."""
    n = 0
    for v in values:
        if not inside(v):
            break
        n += 1
    return n


def mean_std_text(values: Sequence[float], digits: int = 1) -> str:
    """``"mean ± std"`` of per-seed values, or the value alone for one seed (no spread to show, not "± 0")."""
    mean, std = mean_std(values)
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def count(n: int, noun: str) -> str:
    """``"1 seed"``, ``"3 seeds"``: a number with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
