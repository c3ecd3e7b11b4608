"""The trainer: artifacts, exact resume (in-process and after kill -9 / Ctrl-C), the NaN guard."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from companion.checkpoint import GAN_FORMAT, load_checkpoint
from companion.config import make_config
from companion.data import make_synthetic
from companion.errors import TrainingDiverged
from companion.experiment import run_training
from companion.losses import LOSSES, GANLoss
from companion.models import ArchSpec, build_gan
from companion.train import STEP_FIELDS, GANTrainer


def tiny(**kw):
    base = dict(
        dataset="synthetic", epochs=2, batch_size=64, fid_samples=0, deterministic=True, device="cpu", n_fixed=16
    )
    base.update(kw)
    return make_config(None, **base)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    ck = load_checkpoint(path, GAN_FORMAT)
    return {
        **{f"g.{k}": v for k, v in ck["generator"].items()},
        **{f"d.{k}": v for k, v in ck["discriminator"].items()},
    }


def _assert_bit_identical(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    diff = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not diff, f"weights differ: {diff[:5]}"
    oa, ob = load_checkpoint(a, GAN_FORMAT)["opt_g"], load_checkpoint(b, GAN_FORMAT)["opt_g"]
    assert all(torch.equal(oa["state"][i]["exp_avg"], ob["state"][i]["exp_avg"]) for i in oa["state"])


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_run_folder_has_every_artifact(tmp_path: Path, loss: str) -> None:
    summary = run_training(tiny(loss=loss), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "ckpt.pt", "progress.gif", "losses.png", "summary.json"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "grids").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["type"] == "step"]
    epochs = [r for r in records if r["type"] == "epoch"]
    assert len(steps) == 2 * (1024 // 64) and [r["epoch"] for r in epochs] == [1, 2]
    assert all(set(STEP_FIELDS) <= set(r) for r in steps + epochs)
    assert summary["epochs"] == 2 and summary["loss"] == loss
    ck = load_checkpoint(run / "ckpt.pt", GAN_FORMAT)
    assert ck["fixed_z"].shape == (16, 100) and ck["epoch"] == 2


def test_resume_is_bit_identical_in_process(tmp_path: Path) -> None:
    run_training(tiny(epochs=3), tmp_path / "straight", progress=False)
    run_training(tiny(epochs=1), tmp_path / "split", progress=False)
    run_training(tiny(epochs=3), tmp_path / "split", resume=True, explicit={"epochs"}, progress=False)
    _assert_bit_identical(tmp_path / "straight" / "ckpt.pt", tmp_path / "split" / "ckpt.pt")
    # metrics of the resumed run are continuous and not duplicated
    epochs = [
        json.loads(x)["epoch"]
        for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
        if '"type": "epoch"' in x
    ]
    assert epochs == [1, 2, 3]


def _train_cmd(out: Path, epochs: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "companion",
        "train",
        "--dataset",
        "synthetic",
        "--epochs",
        str(epochs),
        "--batch-size",
        "16",
        "--fid-samples",
        "0",
        "--deterministic",
        "true",
        "--device",
        "cpu",
        "--n-fixed",
        "16",
        "--no-progress",
        "--out",
        str(out),
    ]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_run_resumes_bit_identically(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    epochs = 8  # short epochs; the signal lands within milliseconds of the first checkpoint
    subprocess.run(_train_cmd(tmp_path / "straight", epochs), check=True, env=env, capture_output=True)
    # A child of a background job inherits SIGINT as "ignored"; give it the default disposition so
    # Python installs its KeyboardInterrupt handler, as it does in a terminal.
    proc = subprocess.Popen(
        _train_cmd(tmp_path / "killed", epochs),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ckpt = tmp_path / "killed" / "ckpt.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    done = load_checkpoint(ckpt, GAN_FORMAT)["epoch"]
    assert done < epochs, "the run finished before it could be interrupted"
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--resume" in err and "Traceback" not in err
    subprocess.run([*_train_cmd(tmp_path / "killed", epochs), "--resume"], check=True, env=env, capture_output=True)
    _assert_bit_identical(tmp_path / "straight" / "ckpt.pt", ckpt)


def _nan_after(steps: int) -> GANLoss:
    """The non-saturating loss, except that G's loss turns NaN after ``steps`` calls (fault injection)."""
    base = LOSSES["nonsaturating"]
    calls = {"n": 0}

    def generator(a: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        out = base.generator(a)
        return out * float("nan") if calls["n"] > steps else out

    return base._replace(generator=generator)


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = tiny(epochs=3)
    data = make_synthetic(1024)
    torch.manual_seed(0)
    g, d = build_gan(ArchSpec("report28", 1, 100))
    trainer = GANTrainer(g, d, _nan_after(16 + 5), data, cfg, tmp_path, device=torch.device("cpu"), progress=False)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step \d+; the last good checkpoint \(epoch 1\)"):
        trainer.fit()
    ck = load_checkpoint(tmp_path / "ckpt.pt", GAN_FORMAT)
    assert ck["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["generator"].values() if v.is_floating_point())


def test_real_divergence_is_caught(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match="no epoch had finished"):
        run_training(tiny(lr=1e30), tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "ckpt.pt").exists()


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    from companion.errors import ConfigError

    run_training(tiny(epochs=1), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="whose loss is 'nonsaturating'"):
        run_training(
            dataclasses.replace(tiny(epochs=1), loss="lsgan"),
            tmp_path / "r",
            resume=True,
            explicit={"loss"},
            progress=False,
        )


def test_random_streams_continue_exactly_after_a_save_and_load() -> None:
    """state() then load() into fresh streams of another seed: every stream draws what the original would."""
    from companion.distributed import World
    from companion.streams import RandomStreams

    cpu = torch.device("cpu")
    a = RandomStreams.seeded(3, 4, 10, cpu)
    torch.randperm(100, generator=a.data), torch.randn(5, generator=a.latent)  # advance both streams
    saved, fixed = a.state(World(), cpu), a.fixed_z.clone()
    b = RandomStreams.seeded(99, 4, 10, cpu)
    assert not torch.equal(b.fixed_z, fixed)  # the control: another seed draws otherwise
    b.load(saved, fixed, World(), cpu)
    assert torch.equal(torch.randperm(100, generator=a.data), torch.randperm(100, generator=b.data))
    assert torch.equal(torch.randn(7, generator=a.latent), torch.randn(7, generator=b.latent))
    assert torch.equal(a.fixed_z, b.fixed_z)
    # rank 1 of a 2-process run that resumes a 1-process checkpoint keeps its own fresh stream
    c = RandomStreams.seeded(3, 4, 10, cpu, rank=1)
    fresh = c.latent.get_state()
    c.load(saved, fixed, World(rank=1, size=2), cpu)
    assert torch.equal(c.latent.get_state(), fresh)


# Multiply-adds per image of the report's pair, layer by layer (output pixels x C_in x C_out x kernel taps;
# a transposed convolution: input pixels x C_in x C_out x taps). D's last layer: only its inner 3x3 meets the image.
G_MACS = (1 * 100 * 256 * 9, 9 * 256 * 128 * 9, 49 * 128 * 64 * 9, 225 * 64 * 1 * 9)
D_MACS = (196 * 1 * 28 * 16, 49 * 28 * 56 * 16, 9 * 56 * 112 * 16, 1 * 112 * 9)


def test_gan_step_does_exactly_the_work_of_one_alternating_step() -> None:
    """The FLOP counter over one trainer step equals the hand count: G forward, its weight and input gradients
    (not z's); D on real and fake with weight gradients, input gradients below its first layer only; then D
    again on the fake for G, input gradients only (D frozen). A D that kept its weight gradients in the G step,
    or a fake not detached in the D step, adds work and fails here."""
    from torch.utils.flop_counter import FlopCounterMode

    g_total, d_total = sum(G_MACS), sum(D_MACS)
    macs = (
        g_total + g_total + (g_total - G_MACS[0])  # G: forward, weight gradients, input gradients but z's
        + 3 * d_total  # D forward: real and fake (D step), fake again (G step)
        + 2 * d_total  # D step: weight gradients, real and fake
        + 2 * (d_total - D_MACS[0])  # D step: input gradients, not the images' (real data, detached fake)
        + d_total  # G step: D's input gradients, all the way to the fake
    )  # fmt: skip
    torch.manual_seed(0)
    g, d = build_gan(ArchSpec("report28", 1, 100))
    g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    data = make_synthetic(128)
    with tempfile.TemporaryDirectory() as tmp:
        tr = GANTrainer(g, d, LOSSES["nonsaturating"], data, tiny(batch_size=128), Path(tmp),
                        device=torch.device("cpu"), progress=False)  # fmt: skip
        batch = next(iter(data.batches(128, torch.Generator().manual_seed(0))))
        with FlopCounterMode(display=False) as counter:
            tr._train_step(batch, torch.zeros(len(STEP_FIELDS)))
    assert counter.get_total_flops() == 2 * 128 * macs == 9_534_717_952


def _speed_benchmark():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "train_speed.py"
    spec = importlib.util.spec_from_file_location("train_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_speed_benchmark_ceiling_arithmetic() -> None:
    """benchmarks/train_speed.py's ceiling line: GFLOP/s reached = FLOPs x steps/s; the most a step can run at
    the matrix product's rate = peak / FLOPs; the ratio against the reference's measured speed."""
    bench = _speed_benchmark()
    line = bench.ceiling("GAN x", 4 * 10**9, 5.0, 8.0, 100.0, "steps/s")
    # 4 GFLOP x 5 steps/s = 20 GFLOP/s, 20% of 100; 100 / 4 = 25 steps/s at most, 25 / 8 = 3.12x.
    assert line == (
        "GAN x: 4.00 GFLOP per step, run at 20 GFLOP/s (20% of the matrix product's 100); at that rate alone it "
        "would make 25.00 steps/s, at most 3.12x the reference"
    )
    a = torch.randn(64, 64, requires_grad=True)
    assert bench.step_flops(lambda: (a @ a).sum().backward()) == 3 * 2 * 64**3  # forward, and both gradients


def _results(native: bool) -> dict:
    """A results file as ``--json`` writes it, with numbers whose table entries are easy to compute by hand."""
    r = {
        "kernels": "AVX512" if native else "AVX2", "onednn_max_isa": "unlimited" if native else "AVX2",
        "native_bf16": native,
        "reference": {"images_per_s": [896.0, 640.0, 768.0], "fid": 1637.1},  # median 768: 6 steps of 128 a second
        "companion fp32": {"images_per_s": [1280.0, 1000.0, 1400.0], "median": 1.67, "fid": 1737.5},  # 10 steps/s
        "flops": {"reference": 6 * 10**9, "companion fp32": 5 * 10**9, "matmul_peak_gflops": 100.0},
        "glow": {"median": 1.1, "steps_per_s": {"reference": [1.0] * 3, "companion": [2.5, 2.0, 1.5]},
                 "bpd": {"reference": 3.10204, "companion": 3.10196}},
        "glow_flops": {"companion": 40 * 10**9, "matmul_peak_gflops": 160.0},
        "glo": {"median": 1.08, "images_per_s": {"reference": [1.0] * 3, "companion": [1900.0, 2000.0, 2100.0]}},
    }  # fmt: skip
    if native:
        r["companion bf16 (auto)"] = {"images_per_s": [1500.0, 1536.0, 1600.0], "median": 2.0, "fid": 1721.4}
    return r


def test_speed_table_is_the_results_files() -> None:
    """The book's speed table from two results files, every cell by hand: GAN float32 at 10 steps/s x 5 GFLOP =
    50 GFLOP/s, half of 100; at 100 GFLOP/s the step would make 20 steps/s, 20 / 6 = 3.33x the reference; the
    Glow at 2 steps/s x 40 GFLOP = 80 GFLOP/s, half of 160, at most 160 / 40 / 2 = 2.00x today's step."""
    table = _speed_benchmark().speed_table([_results(True), _results(False)])
    rows = [line.split(" | ") for line in table.splitlines()]
    assert rows[0][1:] == ["AVX512 kernels, native bf16", "AVX2 kernels, float32 only |"]
    cells = {row[0].lstrip("| "): row[1] for row in rows[2:]}
    avx2 = {row[0].lstrip("| "): row[2].rstrip(" |") for row in rows[2:]}
    assert cells == {
        "GAN: the report's loop (the reference)": "768 images/s",
        "GAN: FID after the same steps, loop / float32 / bf16 (one seed: nothing broke, not a ranking)":
            "1637 / 1738 / 1721",
        "GAN: this trainer, float32": "1,280 images/s, 1.67x",
        "GAN: this trainer, bf16 autocast (`--precision auto`)": "1,536 images/s, 2.00x",
        "GAN float32 step: work, and the rate it ran at (share of the matrix product's)":
            "5.00 GFLOP at 50 GFLOP/s (50% of 100)",
        "GAN float32: the most any trainer of this step could reach against the reference": "3.33x",
        "Glow float32 step: today's layers, against nflows' own": "2.00 steps/s, 1.10x",
        "Glow float32 step: work, and the rate it ran at (share of the matrix product's)":
            "40.00 GFLOP at 80 GFLOP/s (50% of 160)",
        "Glow float32: the most any faster step could reach against today's": "2.00x",
        "Glow: bits/dim after the same steps, nflows' layers / today's": "3.1020 / 3.1020",
        "GLO step: channels-last, against the default memory layout": "2,000 images/s, 1.08x",
    }  # fmt: skip
    assert avx2["GAN: this trainer, bf16 autocast (`--precision auto`)"] == "(no native bf16)"
    assert avx2["GAN: this trainer, float32"] == cells["GAN: this trainer, float32"]
    assert avx2["GAN: FID after the same steps, loop / float32 / bf16 (one seed: nothing broke, not a ranking)"] == (
        "1637 / 1738"
    )


def test_book_speed_table_comes_from_its_results_files() -> None:
    """docs/assets/speed/table.md, which both editions include, is what --table writes from the two runs' files."""
    root = Path(__file__).resolve().parents[1] / "docs" / "assets" / "speed"
    results = [json.loads((root / f"cpu-{isa}.json").read_text()) for isa in ("native", "avx2")]
    assert (root / "table.md").read_text() == _speed_benchmark().speed_table(results)
    assert [r["onednn_max_isa"] for r in results] == ["unlimited", "AVX2"]
