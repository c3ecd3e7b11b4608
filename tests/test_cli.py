"""Every bad input ends in one line on stderr, exit 2, no traceback, nothing overwritten."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from companion.cli import main

TINY = [
    "--dataset",
    "synthetic",
    "--epochs",
    "1",
    "--batch-size",
    "64",
    "--fid-samples",
    "0",
    "--no-progress",
    "--n-fixed",
    "8",
]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse errors
        rc = int(exc.code)
    err = capsys.readouterr().err
    return rc, err


def assert_one_line_error(rc: int, err: str, match: str) -> None:
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and match in lines[0], err


@pytest.fixture
def trained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["train", "--out", str(tmp_path / "run"), *TINY]) == 0
    capsys.readouterr()
    return tmp_path / "run"


@pytest.mark.parametrize(
    "args,match",
    [
        (["--dataset", "cifar"], "unknown dataset 'cifar'"),
        (["--loss", "wgan"], "unknown loss 'wgan'"),
        (["--epochs", "0"], "epochs must be positive"),
        (["--epochs", "-3"], "epochs must be positive"),
        (["--batch-size", "0"], "batch_size must be positive"),
        (["--batch-size", "100000"], "larger than the 1024 training images"),
        (["--learning-rate", "1"], "unrecognized arguments"),
        (["--lr", "fast"], "expects float"),
    ],
)
def test_train_rejects_bad_options(tmp_path: Path, capsys, args: list[str], match: str) -> None:
    rc, err = run_cli(capsys, "train", "--out", str(tmp_path / "r"), *TINY, *args)
    assert_one_line_error(rc, err, match)
    assert not (tmp_path / "r" / "ckpt.pt").exists()


def test_missing_data_offline(tmp_path: Path, capsys) -> None:
    rc, err = run_cli(
        capsys,
        "train",
        "--out",
        str(tmp_path / "r"),
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "empty"),
        "--no-progress",
    )
    assert_one_line_error(rc, err, "mnist not found")
    assert str(tmp_path / "empty" / "MNIST" / "raw") in err
    assert not (tmp_path / "r").exists()


def test_out_holding_another_run_is_refused_and_kept(trained: Path, capsys) -> None:
    before = (trained / "ckpt.pt").read_bytes()
    rc, err = run_cli(capsys, "train", "--out", str(trained), *TINY)
    assert_one_line_error(rc, err, "already holds a run")
    assert (trained / "ckpt.pt").read_bytes() == before
    assert main(["train", "--out", str(trained), *TINY, "--overwrite"]) == 0


def test_resume_without_checkpoint(tmp_path: Path, capsys) -> None:
    rc, err = run_cli(capsys, "train", "--out", str(tmp_path / "none"), *TINY, "--resume")
    assert_one_line_error(rc, err, "no checkpoint")


def test_sample_rejects_corrupt_checkpoint(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 50)
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(bad), "--out", str(tmp_path / "s.npy"))
    assert_one_line_error(rc, err, "not a readable checkpoint")


def test_sample_rejects_foreign_checkpoint(tmp_path: Path, capsys) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}}, foreign)
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(foreign), "--out", str(tmp_path / "s.npy"))
    assert_one_line_error(rc, err, "is not a companion-gan/1 or companion-glo/1 checkpoint")


def test_sample_rejects_checkpoint_of_another_architecture(trained: Path, tmp_path: Path, capsys) -> None:
    from companion.checkpoint import GAN_FORMAT, load_checkpoint, save_atomic

    ck = load_checkpoint(trained / "ckpt.pt", GAN_FORMAT)
    ck.pop("sha256")
    ck["meta"]["arch"]["arch"] = "dcgan64"  # report28 weights labelled as the 64x64 DCGAN
    save_atomic(ck, tmp_path / "other.pt")
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(tmp_path / "other.pt"), "--out", str(tmp_path / "s.npy"))
    assert_one_line_error(rc, err, "do not fit this architecture")


@pytest.mark.parametrize(
    "args,match",
    [
        (["--n", "0"], "n must be positive, got 0"),
        (["--n", "abc"], "option 'n' expects int"),
        (["--seed", "99999999999999999999999"], "seed must lie in 0..2**63-1"),
        (["--seed", "-1"], "seed must lie in 0..2**63-1, got -1"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_sample_rejects_bad_options(trained: Path, tmp_path: Path, capsys, args: list[str], match: str) -> None:
    out = tmp_path / "s.npy"
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(trained / "ckpt.pt"), "--out", str(out), *args)
    assert_one_line_error(rc, err, match)
    assert not out.exists()


@pytest.mark.parametrize(
    "command,args,match",
    [
        ("degrade", ["--seed", "99999999999999999999999"], "seed must lie in 0..2**63-1"),
        ("degrade", ["--seed", "-2"], "seed must lie in 0..2**63-1"),
        ("degrade", ["--sigma", "nan"], "sigma must be >= 0"),
        ("degrade", ["--factor", "0"], "factor must be positive"),
        ("degrade", ["--image-size", "0"], "image_size must be positive"),
        ("restore", ["--task", "superres", "--factor", "0"], "--factor must be positive"),
        ("restore", ["--seed", "99999999999999999999999"], "seed must lie in 0..2**63-1"),
    ],
)
def test_degrade_and_restore_reject_bad_options(
    trained: Path, tmp_path: Path, capsys, command: str, args: list[str], match: str
) -> None:
    digits = tmp_path / "d.npy"
    np.save(digits, np.zeros((2, 1, 28, 28), np.uint8))
    head = ["degrade", "--task", "denoise", "--images", str(digits), "--out", str(tmp_path / "o")]
    if command == "restore":
        head = ["restore", "--generator", str(trained / "ckpt.pt"), "--clean", str(digits),
                "--out", str(tmp_path / "o.npy")]  # fmt: skip
        head += [] if "--task" in args else ["--task", "denoise"]
    rc, err = run_cli(capsys, *head, *args)
    assert_one_line_error(rc, err, match)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.npy").exists()


def test_console_entry_point_and_module_agree(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "companion", "train", "--out", str(tmp_path / "x"), "--loss", "nope"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "unknown loss 'nope'" in r.stderr
