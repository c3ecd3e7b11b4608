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
        "saturation.png",
        "saturation.md",
        "results.md",
        "results.json",
        "command.md",
        "minimax.gif",
        "nonsaturating.gif",
        "lsgan.gif",
        "epochs_minimax.png",
        "epochs_nonsaturating.png",
        "epochs_lsgan.png",
    ):
        assert (assets / name).is_file(), name
    for loss in ("minimax", "nonsaturating", "lsgan"):
        assert (runs / "dry" / loss / "seed0" / "summary.json").is_file()
        assert sorted(p.name for p in (runs / "dry" / loss / "seed0" / "fixed").iterdir()) == [
            "epoch_001.npy",
            "epoch_002.npy",
        ]
    res = json.loads((assets / "results.json").read_text())
    assert [r["loss"] for r in res["results"]] == ["minimax", "nonsaturating", "lsgan"]
    for loss in ("minimax", "nonsaturating", "lsgan"):
        fid = res["per_epoch"][loss]["fid"]
        assert len(fid["mean"]) == 2 and fid["mean"][0] > 0 and fid["min"][0] <= fid["mean"][0] <= fid["max"][0]
    assert len(res["floor"]) == 2 and all(f >= 0 for f in res["floor"])
    assert "--dry-run" in (assets / "command.md").read_text()


def test_gan_losses_chapter_reuses_finished_runs(gan_losses_dry) -> None:
    from companion.chapters import gan_losses

    assets, runs = gan_losses_dry
    before = (runs / "dry" / "minimax" / "seed0" / "ckpt.pt").stat().st_mtime_ns
    assert gan_losses.main(["--dry-run", "--assets", str(assets), "--runs", str(runs), "--no-progress"]) == 0
    assert (runs / "dry" / "minimax" / "seed0" / "ckpt.pt").stat().st_mtime_ns == before  # nothing retrained


def test_gan_losses_chapter_seeds_and_interrupted_run(tmp_path: Path) -> None:
    """Two seeds give a real band; a run stopped after epoch 1 is resumed to the straight run's weights."""
    import argparse
    import dataclasses
    import shutil

    import torch

    from companion.chapters import gan_losses
    from companion.checkpoint import GAN_FORMAT, load_checkpoint
    from companion.experiment import run_training

    argv = ["--dry-run", "--seeds", "2", "--runs", str(tmp_path / "r"), "--assets", str(tmp_path / "a")]
    argv += ["--no-progress", "--device", "cpu"]
    assert gan_losses.main(argv) == 0
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert res["seeds"] == [0, 1]
    fid = res["per_epoch"]["nonsaturating"]["fid"]
    assert all(lo <= m <= hi for lo, m, hi in zip(fid["min"], fid["mean"], fid["max"]))
    assert any(hi > lo for lo, hi in zip(fid["min"], fid["max"]))  # two different seeds: a real band
    run = tmp_path / "r" / "dry" / "lsgan" / "seed1"
    straight = load_checkpoint(run / "ckpt.pt", GAN_FORMAT)["generator"]
    shutil.rmtree(run)
    ns = argparse.Namespace(dry_run=True, device="cpu", precision="auto", preset="full")
    cfg = dataclasses.replace(gan_losses.chapter_config(ns), loss="lsgan", seed=1, epochs=1)
    run_training(cfg, run, progress=False)  # what an interruption after epoch 1 leaves behind
    assert gan_losses.main(argv) == 0
    resumed = load_checkpoint(run / "ckpt.pt", GAN_FORMAT)
    assert resumed["epoch"] == 2
    assert all(torch.equal(straight[k], resumed["generator"][k]) for k in straight)


def test_saturation_chapter(tmp_path: Path) -> None:
    from companion.chapters import saturation

    assert saturation.main(["--dry-run", "--assets", str(tmp_path), "--runs", str(tmp_path / "r")]) == 0
    for name in ("derivation.md", "gradients.png", "measured.png", "results.md", "results.json", "command.md"):
        assert (tmp_path / name).is_file(), name
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["limits"]["minimax"]["rejected"]["gradient"] == "0"
    assert res["limits"]["nonsaturating"]["rejected"]["gradient"] == "-1"
    assert res["limits"]["lsgan"]["rejected"] == {"where": "a = 0", "gradient": "-1"}


def test_minimax_chapter(tmp_path: Path) -> None:
    from companion.chapters import minimax

    assert minimax.main(["--dry-run", "--assets", str(tmp_path), "--runs", str(tmp_path / "r")]) == 0
    for name in ("orders.png", "play.png", "playground.png", "results.md", "results.json", "command.md"):
        assert (tmp_path / name).is_file(), name


def test_flows_chapter(tmp_path: Path) -> None:
    from companion.chapters import flows

    argv = ["--dry-run", "--assets", str(tmp_path), "--from-runs", str(tmp_path / "none"), "--runs", str(tmp_path)]
    assert flows.main(argv) == 0
    for name in ("densities.png", "cost.png", "mnist8.png", "generator.png", "results.md", "results.json"):
        assert (tmp_path / name).is_file(), name
    res = json.loads((tmp_path / "results.json").read_text())
    assert all(r["rel_err_triangular"] < 1e-8 and r["off_triangle"] == 0.0 for r in res["flows_2d"])
    assert res["generator"]["mnist_jacobian_rank"] <= 100


def test_inversion_chapter(gan_losses_dry, tmp_path: Path) -> None:
    from companion.chapters import inversion

    _, runs = gan_losses_dry
    gen = runs / "dry" / "nonsaturating" / "seed0" / "ckpt.pt"
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
    # A second invocation redraws from the cache (keyed by the generator's fingerprint): same table, no work.
    cache = next((tmp_path / "r" / "dry").glob("results_*.pt"))
    stamp, table = cache.stat().st_mtime_ns, (tmp_path / "a" / "results.md").read_text()
    argv = ["--dry-run", "--generator", str(gen), "--assets", str(tmp_path / "b"), "--runs", str(tmp_path / "r")]
    assert inversion.main([*argv, "--n", "16", "--no-progress", "--device", "cpu"]) == 0
    assert cache.stat().st_mtime_ns == stamp and (tmp_path / "b" / "results.md").read_text() == table
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
    gen = runs / "dry" / "nonsaturating" / "seed0" / "ckpt.pt"
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
                "--runs",
                str(tmp_path / "r"),
                "--tasks",
                *tasks,
            ]
        )
        == 0
    )
    for name in ("cell_noise_0_5.png", "cell_box_14x14.png", "cell_SR_4x.png", "cell_CS_m_50.png", "results.json",
                 "user_inpaint.png", "user_denoise.png", "user_path.md", "results_noise.md"):  # fmt: skip
        assert (tmp_path / name).is_file(), name
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert {r["task"] for r in rows} == set(tasks)
    noise = {r["method"].split(" (")[0] for r in rows if r["task"] == "noise σ=0.5"}
    assert noise == {"degraded input", "total variation", "non-local means", "Gaussian blur", "GAN prior"}


def _docs_state() -> dict[str, int]:
    from companion.chapters.common import DOCS

    return {str(p): p.stat().st_mtime_ns for p in DOCS.rglob("*") if p.is_file()}


def test_glow_chapter(tmp_path: Path) -> None:
    """The Glow chapter's dry run: every asset, and its numbers are the cached scores' (by value)."""
    import torch

    from companion.chapters import glow

    argv = ["--dry-run", "--assets", str(tmp_path / "a"), "--runs", str(tmp_path / "r"), "--no-progress",
            "--generator", str(tmp_path / "none.pt"), "--device", "cpu"]  # fmt: skip
    assert glow.main(argv) == 0
    for f in ("ranks.png", "ood.png", "samples.png", "training.png", "results.md", "ood.md", "samples.md",
              "ranks.md", "results.json", "command.md"):  # fmt: skip
        assert (tmp_path / "a" / f).is_file(), f
    numbers = json.loads((tmp_path / "a" / "results.json").read_text())
    scores = torch.load(tmp_path / "r" / "dry" / "scores.pt", weights_only=True)["score"]
    assert numbers["mnist_test_bpd"] == pytest.approx(float(scores["mnist"]["MNIST test digits"].mean()))
    from companion.ood import auroc

    fa = scores["fashion-mnist"]
    assert numbers["ood"][1]["auroc"] == pytest.approx(auroc(fa["Fashion-MNIST test images"], fa["MNIST test digits"]))
    assert [r["model"] for r in numbers["samples"]] == ["GAN", "Glow, T = 1.0", "Glow, T = 0.7"]


def test_glo_chapter(tmp_path: Path) -> None:
    from companion.chapters import glo

    argv = ["--dry-run", "--assets", str(tmp_path / "a"), "--runs", str(tmp_path / "r"), "--no-progress",
            "--generator", str(tmp_path / "none.pt"), "--device", "cpu"]  # fmt: skip
    assert glo.main(argv) == 0
    for f in ("reconstructions.png", "samples.png", "code_density.png", "samples.md", "prior.md", "results.json"):
        assert (tmp_path / "a" / f).is_file(), f
    numbers = json.loads((tmp_path / "a" / "results.json").read_text())
    assert numbers["jacobian"]["shape"] == [784, 100] and numbers["jacobian"]["rank_1e-6"] <= 100
    table = (tmp_path / "a" / "samples.md").read_text()
    assert "blank samples" in table.splitlines()[0]
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:7]] == [
        "GAN (chapter 1), z ~ N(0, I)", "GLO, Gaussian over its codes", "GLO, IMLE mapper (GLANN)",
        "GLO, mixture of Gaussians over its codes", "GLO, z ~ N(0, I) (no fitted sampler)"]  # fmt: skip
    assert [r["task"] for r in numbers["prior"]] == ["inversion", "denoising σ = 0.5", "inpainting 14x14",
                                                    "super-resolution 4x"]  # fmt: skip


@pytest.mark.parametrize("name", ["minimax", "saturation"])
def test_dry_run_never_writes_into_docs(name: str, tmp_path: Path, monkeypatch) -> None:
    """With no --assets, a dry run writes under --runs only (docs/ keeps every file untouched)."""
    import importlib

    monkeypatch.chdir(tmp_path)
    before = _docs_state()
    assert importlib.import_module(f"companion.chapters.{name}").main(["--dry-run", "--no-progress"]) == 0
    assert _docs_state() == before
    assert (tmp_path / "runs" / name / "dry" / "assets" / "command.md").is_file()


def test_dry_run_refuses_assets_inside_docs(tmp_path: Path, capsys) -> None:
    from companion.chapters import minimax
    from companion.chapters.common import DOCS

    before = _docs_state()
    assert minimax.main(["--dry-run", "--assets", str(DOCS / "assets" / "minimax")]) == 2
    assert "never writes into docs/" in capsys.readouterr().err
    assert _docs_state() == before


def test_gpu_check_script_runs_its_cpu_part(tmp_path: Path) -> None:
    """benchmarks/gpu_check.py, prepared for a GPU, runs on the CPU with --quick (so it works when a GPU is lent)."""
    import subprocess
    import sys

    from companion.chapters.common import REPO_ROOT

    r = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
         "--out", str(tmp_path), "--skip-tests"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["consistency"]["ok"] and report["consistency"]["d_loss"] == 0.0  # cpu against cpu
    assert {(s["precision"], s["compile"]) for s in report["switches"]} >= {("fp32", "off"), ("fp32", "default")}
    assert set(report["full"]["losses"]) == {"minimax", "nonsaturating", "lsgan"}
    # the Glow (both precisions) and GLO too, each with its quality after the steps
    other = report["other_models"]
    assert set(other) == {"glow_bf16", "glow_fp32", "glo"} and other["glo"]["recon_psnr"] > 0
    assert all(0 < other[k]["held_out_bpd"] < 10 for k in ("glow_bf16", "glow_fp32"))
    assert f"| glo | {other['glo']['steps_per_s']:.2f} |" in (tmp_path / "report.md").read_text()


def test_stabilisers_chapter(gan_losses_dry, tmp_path: Path) -> None:
    """Chapter 4 on synthetic data: every ablation row, the combination, the tables and figures."""
    from companion.chapters import stabilisers

    _, runs = gan_losses_dry
    argv = ["--dry-run", "--assets", str(tmp_path / "a"), "--runs", str(tmp_path / "r"), "--chapter-runs", str(runs)]
    assert stabilisers.main([*argv, "--seeds", "1", "--no-progress", "--device", "cpu"]) == 0
    for name in ("ablation.md", "better.md", "fid.png", "samples.png", "results.json", "command.md"):
        assert (tmp_path / "a" / name).is_file(), name
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert [r["config"] for r in res["ablation"]] == [*stabilisers.ABLATION, stabilisers.BETTER]
    assert res["ablation"][0]["verdict"] == "—" and res["better"][1]["config"].startswith("better")
    assert res["configs"]["+ hinge loss"]["loss"] == "hinge"
    # One seed has no spread: no row may claim that a technique helps or hurts, and no "± 0.00".
    assert all(r["verdict"].startswith("no verdict") for r in res["ablation"][1:])
    table = (tmp_path / "a" / "ablation.md").read_text()
    assert "Preliminary: 1 seed only" in table and "±" not in table and "effect" not in table
    best = min(res["ablation"], key=lambda r: r["final_mean"])["config"]
    bold = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "**" in line]
    assert bold == [best]  # the lowest FID, and only it, in bold


def _prior_results(root: Path, psnr_shift: float, n: int = 4) -> dict[str, Path]:
    """Tiny results.json files in the shape chapters 2 and 3 write (values chosen by hand)."""
    inv = {"n_images": n, "methods": [{"method": "hybrid", "psnr": 20.0 + psnr_shift, "accuracy": 0.5},
                                      {"method": "encoder", "psnr": 15.0, "accuracy": 0.25}]}  # fmt: skip
    rest = {"n_images": n, "rows": [
        {"task": "SR 2x", "method": "degraded input", "psnr": 10.0, "accuracy": 0.0},
        {"task": "SR 2x", "method": "bicubic", "psnr": 19.0, "accuracy": 0.75},
        {"task": "SR 2x", "method": "GAN prior", "psnr": 18.0 + psnr_shift, "accuracy": 1.0},
    ]}  # fmt: skip
    out = {}
    for name, data in (("inversion", inv), ("restoration", rest)):
        (root / name).mkdir(parents=True)
        (root / name / "results.json").write_text(json.dumps(data))
        out[name] = root / name
    return out


def test_prior_table_pairs_methods_and_tasks(tmp_path: Path) -> None:
    from companion.chapters.stabilisers import prior_table

    report, better = _prior_results(tmp_path / "r", 0.0), _prior_results(tmp_path / "b", 2.5)
    text = prior_table(report, better)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| method")}  # fmt: skip
    assert rows["hybrid"][:3] == ["20", "22.5", "2.5"] and rows["encoder"][2] == "0"
    # Restoration: only the GAN prior row, with the task's best classical method for scale (not the input).
    assert rows["SR 2x"][:3] == ["18", "20.5", "2.5"] and rows["SR 2x"][-1] == "19 (bicubic)"
    assert "degraded" not in text


def test_prior_table_refuses_what_it_cannot_compare(tmp_path: Path) -> None:
    from companion.chapters.stabilisers import prior_table

    report = _prior_results(tmp_path / "r", 0.0)
    assert prior_table(report, {"inversion": tmp_path / "x", "restoration": tmp_path / "y"}).startswith("Not computed")
    assert prior_table(report, _prior_results(tmp_path / "b", 1.0, n=5)).startswith("Not comparable")


def test_paired_ema_text_subtracts_raw_from_ema_seed_by_seed() -> None:
    from companion.chapters.stabilisers import paired_ema_text

    text = paired_ema_text({"config": "c", "per_seed": [10.0, 12.0, 14.0], "raw_per_seed": [11.0, 12.0, 16.0]})
    # Differences -1, 0, -2: mean -1, sample std 1 (a pooled or swapped difference would read otherwise).
    assert "per seed: -1.00, +0.00, -2.00" in text and "by -1.00 ± 1.00" in text
    assert "scores 13.00 ± 2.65" in text  # the raw generator's own mean ± std


def test_precision_chapter(gan_losses_dry, tmp_path: Path) -> None:
    """The precision study on synthetic data: both precisions, chapter 1's runs reused where they match."""
    from companion.chapters import precision

    _, runs = gan_losses_dry
    argv = ["--dry-run", "--assets", str(tmp_path / "a"), "--runs", str(tmp_path / "r"), "--chapter-runs", str(runs)]
    assert precision.main([*argv, "--seeds", "1", "--no-progress", "--device", "cpu"]) == 0
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert [r["precision"] for r in res["rows"]] == ["fp32", "bf16"]
    assert all(len(r["per_seed_final"]) == 1 for r in res["rows"])
    command = (tmp_path / "a" / "command.md").read_text()
    # Its own runs' training time is stated even though this invocation may only redraw.
    assert "Training time of this study's" in command
    assert precision.main([*argv, "--seeds", "1", "--no-progress", "--device", "cpu"]) == 0  # a redraw
    assert "Training time of this study's" in (tmp_path / "a" / "command.md").read_text()


@pytest.mark.parametrize(
    "seconds,text",
    [(0, "0 s"), (42, "42 s"), (59.4, "59 s"), (59.6, "1 min"), (89, "1 min"), (91, "2 min"), (4740, "79 min")],
)
def test_duration_reads_seconds_under_a_minute_and_minutes_above(seconds: float, text: str) -> None:
    """The chapters' time notes: a quick preset's seconds no longer print as "0 min"."""
    from companion.chapters.common import duration

    assert duration(seconds) == text


def test_compare_chapter(tmp_path: Path) -> None:
    """The comparison chapter's dry run (tiny models of all three kinds): every asset, and the tables and the
    verdict carry the run's own numbers (read back from results.json, by value)."""
    import json

    from companion.chapters import compare
    from companion.comparison import paired

    argv = ["--dry-run", "--assets", str(tmp_path / "a"), "--runs", str(tmp_path / "r"), "--no-progress",
            "--device", "cpu"]  # fmt: skip
    assert compare.main(argv) == 0
    a = tmp_path / "a"
    for name in ("samples.md", "bpd.md", "inversion.md", "restoration.md", "ood.md", "cost.md", "verdict.md",
                 "verdict.he.md", "restoration.png", "ood.png", "samples.png", "results.json",
                 "command.md"):  # fmt: skip
        assert (a / name).is_file(), name
    res = json.loads((a / "results.json").read_text())
    table = (a / "restoration.md").read_text()
    for row in res["restoration"]:
        if row["method"] == "Glow (Part II)":
            line = next(ln for ln in table.splitlines() if ln.startswith(f"| {row['task']} |"))
            assert f"| {row['psnr']:.2f} |" in line and f"| {res['gammas'][row['task']]:g} |" in line
    # the flow inverts exactly: its PSNR is the metric's cap
    flow = next(r for r in res["inversion"] if r["model"] == "Glow (Part II)")
    assert flow["exact"] and flow["psnr"] > 100
    # every task has its line in the verdict, and the verdict's numbers are the paired difference's
    verdict, verdict_he = (a / "verdict.md").read_text(), (a / "verdict.he.md").read_text()
    assert len(verdict.strip().splitlines()) == len(verdict_he.strip().splitlines()) == len(compare.TASKS) + 1
    import torch

    for task in compare.TASKS:
        values = {r["method"]: torch.tensor(r["values"]) for r in res["restoration"] if r["task"] == task}
        d = paired(values["Glow (Part II)"], values["GAN (chapter 1)"])
        line = next(ln for ln in verdict.splitlines() if ln.startswith(f"- **{task}**"))
        assert f"{abs(d['mean']):.2f}" in line and f"paired over {compare.PRESETS['dry']['n']} images" in line
        # the Hebrew edition's verdict: the same numbers (left to right) and the same winner
        he = next(ln for ln in verdict_he.splitlines() if ln.startswith(f'- **<bdi dir="ltr">{task}</bdi>**'))
        assert f'<bdi dir="ltr">{abs(d["mean"]):.2f}</bdi>' in he
        winner = "Glow" if d["lo"] > 0 else "GAN" if d["hi"] < 0 else None  # the interval says who wins
        assert (f"the {winner} prior is better" in line) if winner else ("no difference" in line)
        assert (f"הפריור של ה-{winner} טוב יותר" in he) if winner else ("לא מבחינות בהבדל" in he)

    # Samplers refitted on the same G: the samples table follows them (its cache is keyed by the samplers too).
    from companion.latent_samplers import IMLEConfig, MixtureConfig, store_samplers

    glo_rows = lambda r: {row["law"]: row["fid"] for row in r["samples"] if row["model"] == "GLO (chapter 5)"}  # noqa: E731
    assert set(glo_rows(res)) == {"Gaussian over its codes"}  # the dry GLO run stores no samplers: only this one
    store_samplers(tmp_path / "r" / "dry" / "models" / "glo" / "ckpt.pt", IMLEConfig(epochs=1),
                   mixture_cfg=MixtureConfig(components=2))  # fmt: skip
    assert compare.main(argv) == 0
    again = glo_rows(json.loads((a / "results.json").read_text()))
    assert set(again) == {"Gaussian over its codes", "IMLE mapper (GLANN)", "mixture of Gaussians over its codes"}


def test_a_chapter_takes_another_chapters_model_in_this_order(tmp_path: Path, monkeypatch) -> None:
    """Given > the reader's own run > trained under --retrain > the book's shipped model; never trained by default."""
    from companion.chapters.common import other_chapters_model
    from companion.errors import CompanionError

    run = tmp_path / "runs" / "ckpt.pt"
    trained = []

    def train() -> Path:
        trained.append(1)
        return run

    assert other_chapters_model(Path("x.pt"), run, "gan-nonsaturating", True, train) == Path("x.pt")
    assert other_chapters_model(None, run, "gan-nonsaturating", False, train) == "book:gan-nonsaturating"
    assert not trained  # the default never trains
    assert other_chapters_model(None, run, "gan-nonsaturating", True, train) == run and trained == [1]
    run.parent.mkdir(parents=True)
    run.write_bytes(b"")
    assert other_chapters_model(None, run, "gan-nonsaturating", False, train) == run  # the reader's own run
    monkeypatch.setenv("COMPANION_BOOK_DIR", str(tmp_path / "empty"))
    with pytest.raises(CompanionError, match="pass --retrain"):
        other_chapters_model(None, tmp_path / "none.pt", "gan-nonsaturating", False, train)
