"""The GPU path: run by benchmarks/gpu_check.py on a machine with CUDA; skipped elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from companion.checkpoint import GAN_FORMAT, load_checkpoint
from companion.config import make_config
from companion.experiment import generate, load_generator, run_training

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def tiny(**kw):
    base = dict(dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cuda", n_fixed=8)
    return make_config(None, **{**base, **kw})


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("compile_mode", ["off", "default", "reduce-overhead"])
def test_training_steps_on_cuda(tmp_path: Path, precision: str, compile_mode: str) -> None:
    summary = run_training(tiny(precision=precision, compile=compile_mode), tmp_path / "r", progress=False)
    assert summary["epochs"] == 1 and summary["precision"] == precision
    ck = load_checkpoint(tmp_path / "r" / "ckpt.pt", GAN_FORMAT)
    assert all(torch.isfinite(v).all() for v in ck["generator"].values() if v.is_floating_point())
    assert "fused" in str(ck["opt_g"]["param_groups"][0]) or ck["opt_g"]["param_groups"][0].get("fused")


def test_data_stays_on_the_gpu_and_sampling_matches_the_cpu(tmp_path: Path) -> None:
    run_training(tiny(precision="fp32"), tmp_path / "r", progress=False)
    G_gpu, spec, _ = load_generator(tmp_path / "r" / "ckpt.pt", "cuda")
    G_cpu, _, _ = load_generator(tmp_path / "r" / "ckpt.pt", "cpu")
    a = generate(G_gpu, 16, spec.latent_dim, seed=3, device="cuda").int()
    b = generate(G_cpu, 16, spec.latent_dim, seed=3, device="cpu").int()
    assert (a - b).abs().max() <= 2  # the same latents; kernels differ by at most a rounding step


def test_cuda_resume_continues(tmp_path: Path) -> None:
    run_training(tiny(), tmp_path / "r", progress=False)
    run_training(tiny(epochs=2), tmp_path / "r", resume=True, explicit={"epochs"}, progress=False)
    assert load_checkpoint(tmp_path / "r" / "ckpt.pt", GAN_FORMAT)["epoch"] == 2
