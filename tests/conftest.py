"""Shared fixtures: an isolated cache, offline data access, and the real MNIST when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def mnist_dir() -> Path | None:
    """The folder holding MNIST/raw, from $COMPANION_DATA or ../shared/data; None if neither has it."""
    for cand in (os.environ.get("COMPANION_DATA"), SHARED_DATA):
        if cand and (Path(cand) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
            return Path(cand)
    return None


@pytest.fixture(autouse=True, scope="session")
def _isolated(tmp_path_factory: pytest.TempPathFactory):
    # Classifier caches go to a per-session folder; no test touches the network.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.setenv("COMPANION_OFFLINE", "1")
        yield


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture
def real_mnist_dir() -> Path:
    d = mnist_dir()
    if d is None:
        pytest.skip("real MNIST not available (set COMPANION_DATA)")
    return d
