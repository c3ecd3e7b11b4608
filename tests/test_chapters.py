"""Smoke runs of every chapter script on tiny synthetic data: the artifacts the book shows exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def gan_losses_dry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from companion.chapters import gan_losses

    root = tmp_path_factory.mktemp("ch1")
    assets, runs = root / "assets", root / "runs"
    assert (
        gan_losses.main(["--dry-run", "--assets", str(assets), "--runs", str(runs), "--no-progress", "--device", "cpu"])
        == 0
    )
    return assets, runs


def test_gan_losses_chapter_writes_every_artifact(gan_losses_dry) -> None:
    assets, runs = gan_losses_dry
    for name in (
        "loss_curves.png",
        "fid_modes.png",
        "grad_norms.png",
        "results.md",
        "results.json",
        "command.md",
        "minimax.gif",
        "nonsaturating.gif",
        "lsgan.gif",
    ):
        assert (assets / name).is_file(), name
    for loss in ("minimax", "nonsaturating", "lsgan"):
        assert sorted(p.name for p in (assets / loss).iterdir()) == ["epoch_001.png", "epoch_002.png"]
        assert (runs / "dry" / loss / "summary.json").is_file()
    res = json.loads((assets / "results.json").read_text())
    assert [r["loss"] for r in res["results"]] == ["minimax", "nonsaturating", "lsgan"]
    assert all(len(r["fid_per_epoch"]) == 2 and r["fid_per_epoch"][0] > 0 for r in res["results"])
    assert "--dry-run" in (assets / "command.md").read_text()


def test_gan_losses_chapter_reuses_finished_runs(gan_losses_dry) -> None:
    from companion.chapters import gan_losses

    assets, runs = gan_losses_dry
    before = (runs / "dry" / "minimax" / "ckpt.pt").stat().st_mtime_ns
    assert gan_losses.main(["--dry-run", "--assets", str(assets), "--runs", str(runs), "--no-progress"]) == 0
    assert (runs / "dry" / "minimax" / "ckpt.pt").stat().st_mtime_ns == before  # nothing retrained


def test_saturation_chapter(gan_losses_dry, tmp_path: Path) -> None:
    from companion.chapters import saturation

    _, runs = gan_losses_dry
    assert saturation.main(["--dry-run", "--assets", str(tmp_path), "--from-runs", str(runs / "dry")]) == 0
    for name in ("derivation.md", "gradients.png", "measured.png", "results.md", "results.json", "command.md"):
        assert (tmp_path / name).is_file(), name
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["limits"]["minimax"]["at_D_to_0"] == "0" and res["limits"]["nonsaturating"]["at_D_to_0"] == "-1"


def test_minimax_chapter(tmp_path: Path) -> None:
    from companion.chapters import minimax

    assert minimax.main(["--dry-run", "--assets", str(tmp_path)]) == 0
    for name in ("orders.png", "play.png", "results.md", "results.json", "command.md"):
        assert (tmp_path / name).is_file(), name


def test_flows_chapter(tmp_path: Path) -> None:
    from companion.chapters import flows

    assert flows.main(["--dry-run", "--assets", str(tmp_path), "--from-runs", str(tmp_path / "none")]) == 0
    for name in ("densities.png", "cost.png", "mnist8.png", "generator.png", "results.md", "results.json"):
        assert (tmp_path / name).is_file(), name
    res = json.loads((tmp_path / "results.json").read_text())
    assert all(r["rel_err_triangular"] < 1e-8 and r["off_triangle"] == 0.0 for r in res["flows_2d"])
    assert res["generator"]["mnist_jacobian_rank"] <= 100


def test_inversion_chapter(gan_losses_dry, tmp_path: Path) -> None:
    from companion.chapters import inversion

    _, runs = gan_losses_dry
    gen = runs / "dry" / "nonsaturating" / "ckpt.pt"
    assert (
        inversion.main(
            [
                "--dry-run",
                "--generator",
                str(gen),
                "--assets",
                str(tmp_path / "a"),
                "--runs",
                str(tmp_path / "r"),
                "--n",
                "16",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    for name in ("psnr_vs_compute.png", "grid.png", "encoder_losses.png", "results.md", "results.json", "command.md"):
        assert (tmp_path / "a" / name).is_file(), name
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    names = [r["method"] for r in res["methods"]]
    assert names == ["encoder", "naive (report)", "optimise, 1 start", "optimise, 8 starts", "hybrid"]
    assert res["in_span"]["median_psnr"] > 0


def test_inversion_chapter_without_generator(tmp_path: Path, capsys) -> None:
    from companion.chapters import inversion

    assert inversion.main(["--dry-run", "--generator", str(tmp_path / "none.pt"), "--assets", str(tmp_path)]) == 2
    assert "run chapter 1 first" in capsys.readouterr().err


def test_restoration_chapter(gan_losses_dry, tmp_path: Path) -> None:
    from companion.chapters import restoration

    _, runs = gan_losses_dry
    gen = runs / "dry" / "nonsaturating" / "ckpt.pt"
    tasks = ["noise σ=0.5", "box 14x14", "SR 4x", "CS m=50"]
    assert (
        restoration.main(
            [
                "--dry-run",
                "--generator",
                str(gen),
                "--assets",
                str(tmp_path),
                "--n",
                "8",
                "--no-progress",
                "--device",
                "cpu",
                "--tasks",
                *tasks,
            ]
        )
        == 0
    )
    for name in ("grid_noise.png", "grid_inpainting.png", "grid_superres.png", "grid_cs.png", "results.json"):
        assert (tmp_path / name).is_file(), name
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert {r["task"] for r in rows} == set(tasks)
    noise = {r["method"].split(" (")[0] for r in rows if r["task"] == "noise σ=0.5"}
    assert noise == {"degraded input", "total variation", "non-local means", "Gaussian blur", "GAN prior"}
