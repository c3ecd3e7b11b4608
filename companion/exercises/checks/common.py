"""What the checks share: a comparison whose failure says what was expected, and how numbers are shown."""

from __future__ import annotations

import numpy as np
import torch

from companion.exercises.registry import CheckFailed

__all__ = ["close", "fmt"]


def close(got, want, what: str, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    got_t, want_t = torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(want, dtype=torch.float64)
    if got_t.shape != want_t.shape:
        raise CheckFailed(f"{what}: expected shape {tuple(want_t.shape)}, got {tuple(got_t.shape)}")
    if not torch.allclose(got_t, want_t, rtol=rtol, atol=atol):
        raise CheckFailed(f"{what}: expected {fmt(want_t)}, got {fmt(got_t)}")


def fmt(t: torch.Tensor) -> str:
    if t.numel() == 1:
        return f"{t.item():.6g}"
    return " ".join(np.array2string(t.numpy(), precision=4, threshold=6, max_line_width=10**6).split())
