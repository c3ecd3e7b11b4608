"""The shared training scaffold and its parts: run log, guard, aggregation, figures, precision."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from companion.aggregate import band, count, leading_run, mean_std, mean_std_text
from companion.config import make_config
from companion.data import make_synthetic
from companion.errors import TrainingDiverged
from companion.loop import Guard
from companion.losses import LOSSES
from companion.models import ArchSpec, build_gan
from companion.runlog import RunLog, read_jsonl
from companion.train import STEP_FIELDS, GANTrainer, grad_norm


def tiny(**kw):
    base = dict(dataset="synthetic", epochs=2, batch_size=64, fid_samples=0, device="cpu", n_fixed=16)
    return make_config(None, **{**base, **kw})


# --- run log ----------------------------------------------------------------------------------------


def test_runlog_appends_trims_and_skips_a_partial_tail(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "m.jsonl")
    log.append([{"type": "step", "epoch": 1, "v": 1}, {"type": "epoch", "epoch": 1}])
    log.append([{"type": "step", "epoch": 2, "v": 2}, {"type": "epoch", "epoch": 2}])
    assert [r["epoch"] for r in log.read("epoch")] == [1, 2]
    with (tmp_path / "m.jsonl").open("a") as f:
        f.write('{"type": "st')
    assert len(log.read()) == 4
    log.trim(1)
    assert [r["epoch"] for r in read_jsonl(tmp_path / "m.jsonl")] == [1, 1]
    assert (tmp_path / "m.jsonl").read_text().endswith("}\n")


# --- guard ------------------------------------------------------------------------------------------

FIELDS = ("d_loss", "g_loss", "spread")


def rows(d: float, g: float, spread: float, n: int) -> torch.Tensor:
    return torch.tensor([[d, g, spread]] * n)


def test_guard_nan_at_once_and_finite_blowup_after_patience() -> None:
    g = Guard(watch=("d_loss", "g_loss"), spread="spread", patience=10)
    assert g.check(rows(0.5, float("nan"), 0.1, 1), FIELDS) == "a loss became NaN or infinite"
    g = Guard(watch=("d_loss", "g_loss"), spread="spread", patience=10)
    assert g.check(rows(1e20, 1e20, 0.1, 9), FIELDS) is None
    assert "stayed above" in g.check(rows(1e20, 1e20, 0.1, 1), FIELDS)


def test_guard_needs_consecutive_steps_and_all_watched_losses() -> None:
    g = Guard(watch=("d_loss", "g_loss"), spread="spread", patience=10)
    assert g.check(rows(1e20, 1e20, 0.1, 9), FIELDS) is None
    assert g.check(rows(1.0, 1.0, 0.1, 1), FIELDS) is None  # one sane step resets the count
    assert g.check(rows(1e20, 1e20, 0.1, 9), FIELDS) is None
    g = Guard(watch=("d_loss", "g_loss"), spread="spread", patience=10)
    assert g.check(rows(0.5, 0.5, 0.1, 50), FIELDS) is None
    # One exploded loss is enough (D certain of everything: its loss 0, G's astronomical).
    assert "stayed above" in g.check(rows(0.0, 1e15, 0.1, 10), FIELDS)


def test_guard_collapse() -> None:
    g = Guard(watch=("d_loss", "g_loss"), spread="spread", patience=10)
    assert g.check(rows(1.0, 1.0, 5e-4, 9), FIELDS) is None
    assert "collapsed" in g.check(rows(1.0, 1.0, 5e-4, 1), FIELDS)
    g = Guard(watch=("d_loss", "g_loss"), spread="spread", patience=10)
    assert g.check(rows(1.0, 1.0, 2e-3, 100), FIELDS) is None


def test_guard_stops_at_once_on_a_non_finite_extra_column() -> None:
    fields = (*FIELDS, "g_grad_norm")
    g = Guard(watch=("d_loss", "g_loss"), spread="spread", finite=("g_grad_norm",), patience=10)
    ok = torch.tensor([[1.0, 1.0, 0.1, 3.0]])
    assert g.check(ok, fields) is None
    for bad in (float("inf"), float("nan")):
        row = torch.tensor([[1.0, 1.0, 0.1, bad]])
        assert g.check(row, fields) == "g_grad_norm became NaN or infinite"
    # Without the column named, the same row passes (the extra check is what stops it).
    assert Guard(watch=("d_loss", "g_loss"), spread="spread").check(row, fields) is None


@pytest.mark.parametrize(
    "steps,bad_tail,stops",
    [
        (8, 4, True),  # half of a short epoch, at its end: stop
        (8, 3, False),  # less than half
        (9, 5, True),  # ceil(9 / 2) = 5
        (9, 4, False),
        (1000, 199, False),  # long epochs: the patience caps it (200 steps stop inside the epoch)
    ],
)
@pytest.mark.parametrize("kind", ["blowup", "collapse"])
def test_guard_end_of_epoch_catches_runs_shorter_than_the_patience(
    steps: int, bad_tail: int, stops: bool, kind: str
) -> None:
    g = Guard(watch=("d_loss", "g_loss"), spread="spread", patience=200)
    good = rows(1.0, 1.0, 0.1, steps - bad_tail)
    bad = rows(0.0, 1e15, 0.1, bad_tail) if kind == "blowup" else rows(1.0, 1.0, 1e-4, bad_tail)
    assert g.check(torch.cat([good, bad]), FIELDS) is None  # never reaches the patience inside the epoch
    reason = g.end_of_epoch(steps)
    assert (reason is not None) == stops, reason
    if stops:
        assert ("stayed above" if kind == "blowup" else "collapsed") in reason
        assert f"for {bad_tail} steps" in reason


def _scaled(factor: float):
    base = LOSSES["nonsaturating"]
    return base._replace(
        discriminator=lambda r, f: base.discriminator(r, f) * factor, generator=lambda a: base.generator(a) * factor
    )


def _trainer(tmp_path: Path, loss, generator: nn.Module | None = None, epochs: int = 3) -> GANTrainer:
    torch.manual_seed(0)
    g, d = build_gan(ArchSpec("report28", 1, 100))
    guard = Guard(watch=("d_loss", "g_loss"), spread="fake_spread", patience=10)
    return GANTrainer(
        generator or g, d, loss, make_synthetic(1024), tiny(epochs=epochs), tmp_path, device=torch.device("cpu"),
        progress=False, guard=guard,
    )  # fmt: skip


def test_finite_divergence_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match=r"stayed above 10000 .* no epoch had finished"):
        _trainer(tmp_path, _scaled(1e20)).fit()
    assert not (tmp_path / "ckpt.pt").exists()


class Constant(nn.Module):
    """A generator whose every sample is the same image (collapsed)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, 1, 28, 28))
        self.latent_dim = 100

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.w).expand(z.shape[0], -1, -1, -1) + 0 * z.sum()


def test_collapsed_samples_stop_the_run(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match="samples collapsed"):
        _trainer(tmp_path, LOSSES["nonsaturating"], Constant()).fit()


def test_healthy_run_is_not_stopped_and_logs_the_spread(tmp_path: Path) -> None:
    _trainer(tmp_path, LOSSES["nonsaturating"], epochs=1).fit()
    steps = RunLog(tmp_path / "metrics.jsonl").read("step")
    assert len(steps) == 16 and all(set(STEP_FIELDS) <= set(r) for r in steps)
    assert all(r["fake_spread"] > 1e-3 for r in steps)


def test_grad_norm_matches_a_hand_computation() -> None:
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0, 12.0])
    assert float(grad_norm([a, b])) == pytest.approx(13.0)  # sqrt(9 + 16 + 144)


# --- aggregation across seeds ---------------------------------------------------------------------


def test_band_against_hand_computed_values() -> None:
    b = band([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0]])
    assert b["mean"] == [3.0, 20.0]
    assert b["min"] == [1.0, 10.0] and b["max"] == [5.0, 40.0]
    assert b["std"][0] == pytest.approx(2.0)  # sample std of 1, 3, 5
    assert b["std"][1] == pytest.approx(math.sqrt(300.0))  # (100 + 100 + 400) / 2


def test_band_negative_controls() -> None:
    with pytest.raises(ValueError):
        band([[1.0, 2.0], [1.0]])
    with pytest.raises(ValueError):
        band([])
    assert mean_std([4.0]) == (4.0, 0.0)


def test_mean_std_text_shows_the_spread_only_where_there_is_one() -> None:
    assert mean_std_text([1.0, 2.0, 3.0]) == "2.0 ± 1.0"  # sample std of 1, 2, 3 is 1
    assert mean_std_text([18.4712], 2) == "18.47"  # one seed: no "± 0.00"
    assert (count(1, "seed"), count(3, "seed")) == ("1 seed", "3 seeds")


def test_leading_run_counts_only_from_the_start() -> None:
    assert leading_run([0.001, 0.002, 0.5, 0.001], lambda v: v < 0.01) == 2
    assert leading_run([0.5, 0.001], lambda v: v < 0.01) == 0


def test_stalled_epochs_of_chapter_one() -> None:
    from companion.chapters.gan_losses import stalled_epochs

    recs = [{"d_fake": v} for v in (1e-4, 3e-3, 0.2, 1e-4)]
    assert stalled_epochs(recs) == 2


# --- the labelled epoch figure --------------------------------------------------------------------


def test_epoch_figure_labels_every_epoch(tmp_path: Path, monkeypatch) -> None:
    from companion import artifacts

    titles: list[str] = []
    real_save = artifacts.save_figure

    def spy(fig, path, dpi=110):
        titles.extend(ax.get_title() for ax in fig.axes)
        return real_save(fig, path, dpi)

    monkeypatch.setattr(artifacts, "save_figure", spy)
    frames = [(e, np.full((16, 1, 28, 28), 10 * e, np.uint8)) for e in range(1, 8)]
    path = artifacts.save_epoch_figure(frames, tmp_path / "e.png", cols=5)
    assert path.is_file()
    assert [t for t in titles if t] == [f"epoch {e}" for e in range(1, 8)]
    from PIL import Image

    assert Image.open(path).mode == "RGBA"  # transparent background for the dark theme


def test_render_run_draws_from_the_run_folder_alone(tmp_path: Path) -> None:
    from companion.artifacts import render_run
    from companion.experiment import run_training

    run_training(tiny(), tmp_path / "r", progress=False, render=False)
    assert not (tmp_path / "r" / "grids").exists()
    written = {p.name for p in render_run(tmp_path / "r")}
    assert {"epoch_001.png", "epoch_002.png", "progress.gif", "epochs.png", "losses.png"} <= written


def test_trainer_imports_no_plotting() -> None:
    import subprocess
    import sys

    code = "import sys, companion.train, companion.loop; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- precision ------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precision_is_recorded_and_resume_is_exact(tmp_path: Path, precision: str) -> None:
    from companion.checkpoint import GAN_FORMAT, load_checkpoint
    from companion.experiment import run_training

    cfg = tiny(precision=precision, deterministic=True, epochs=2)
    run_training(cfg, tmp_path / "straight", progress=False, render=False)
    run_training(tiny(precision=precision, deterministic=True, epochs=1), tmp_path / "split", progress=False,
                 render=False)  # fmt: skip
    run_training(cfg, tmp_path / "split", resume=True, explicit={"epochs"}, progress=False, render=False)
    a = load_checkpoint(tmp_path / "straight" / "ckpt.pt", GAN_FORMAT)
    b = load_checkpoint(tmp_path / "split" / "ckpt.pt", GAN_FORMAT)
    assert a["meta"]["precision"] == b["meta"]["precision"] == precision
    assert json.loads((tmp_path / "straight" / "config.json").read_text())["precision"] == precision
    assert all(torch.equal(a["generator"][k], b["generator"][k]) for k in a["generator"])


def test_bf16_and_fp32_differ(tmp_path: Path) -> None:
    """Negative control: the flag really changes the arithmetic."""
    from companion.checkpoint import GAN_FORMAT, load_checkpoint
    from companion.experiment import run_training

    for p in ("fp32", "bf16"):
        run_training(tiny(precision=p, epochs=1), tmp_path / p, progress=False, render=False)
    a = load_checkpoint(tmp_path / "fp32" / "ckpt.pt", GAN_FORMAT)["generator"]
    b = load_checkpoint(tmp_path / "bf16" / "ckpt.pt", GAN_FORMAT)["generator"]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_auto_precision_follows_the_hardware(tmp_path: Path, monkeypatch) -> None:
    from companion import device

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert device.cpu_has_native_bf16(cpuinfo)
    cpuinfo.write_text("processor: 0\nflags\t\t: fpu sse avx2\n")
    assert not device.cpu_has_native_bf16(cpuinfo)
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda *a: True)
    assert device.resolve_precision("auto", torch.device("cpu")) == "bf16"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda *a: False)
    assert device.resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert device.resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_resumed_run_keeps_its_precision(tmp_path: Path, monkeypatch) -> None:
    from companion import device
    from companion.checkpoint import GAN_FORMAT, load_checkpoint
    from companion.experiment import run_training

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda *a: True)
    run_training(tiny(epochs=1), tmp_path / "r", progress=False, render=False)
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda *a: False)  # "another machine"
    run_training(tiny(epochs=2), tmp_path / "r", resume=True, explicit={"epochs"}, progress=False, render=False)
    assert load_checkpoint(tmp_path / "r" / "ckpt.pt", GAN_FORMAT)["meta"]["precision"] == "bf16"
