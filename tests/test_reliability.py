"""Faults and bad inputs: one line on stderr, exit status 2, nothing lost (issue: the reliability holes)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from companion.checkpoint import GAN_FORMAT, load_checkpoint, save_atomic
from companion.cli import main

TINY = ["--dataset", "synthetic", "--epochs", "1", "--batch-size", "64", "--fid-samples", "0"]
TINY += ["--no-progress", "--n-fixed", "8", "--device", "cpu"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse errors
        rc = int(exc.code)
    return rc, capsys.readouterr().err


def one_line(rc: int, err: str, match: str) -> None:
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err and match in lines[0], err


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rel") / "run"
    assert main(["train", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    from companion.data import make_synthetic

    path = tmp_path / "digits.npy"
    np.save(path, make_synthetic(6).images.numpy())
    return path


# --- the run folder: never lose data --------------------------------------------------------------


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "settings"}')
    (folder / "chapter1.tex").write_text("precious")
    rc, err = run_cli(capsys, "train", "--out", str(folder), *TINY, "--overwrite")
    one_line(rc, err, "not a companion run folder")
    assert (folder / "chapter1.tex").read_text() == "precious" and (folder / "config.json").is_file()


def test_overwrite_deletes_only_what_the_run_wrote(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), *TINY]) == 0
    (out / "notes.txt").write_text("mine")
    (out / "grids" / "my_drawing.png").write_bytes(b"x")
    assert main(["train", "--out", str(out), *TINY, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "grids" / "my_drawing.png").is_file()
    assert (out / "ckpt.pt").is_file()


@pytest.mark.parametrize(
    "bad,match",
    [
        (["--batch-size", "5000"], "larger than the 1024 training images"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/data"], "mnist not found"),
    ],
)
def test_refused_run_leaves_nothing_behind(tmp_path: Path, capsys, bad: list[str], match: str) -> None:
    out = tmp_path / "new"
    rc, err = run_cli(capsys, "train", "--out", str(out), *TINY, *bad)
    one_line(rc, err, match)
    assert not out.exists()
    assert main(["train", "--out", str(out), *TINY]) == 0  # the retry is not blocked by a leftover config.json


def test_refused_overwrite_keeps_the_old_run(run: Path, tmp_path: Path, capsys) -> None:
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    rc, err = run_cli(capsys, "train", "--out", str(run), *TINY, "--overwrite", "--batch-size", "5000")
    one_line(rc, err, "larger than")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_partial_last_log_line_is_tolerated_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), *TINY]) == 0
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"type": "step", "epoch": 2, "ste')  # what a kill during an append leaves
    assert main(["train", "--out", str(out), *TINY, "--epochs", "2", "--resume"]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]  # every line parses again
    assert [r["epoch"] for r in records if r["type"] == "epoch"] == [1, 2]


def test_damaged_log_line_in_the_middle_is_one_line(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), *TINY]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    lines[3] = "garbage"
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    rc, err = run_cli(capsys, "train", "--out", str(out), *TINY, "--epochs", "2", "--resume")
    one_line(rc, err, "damaged at line 4")


# --- output locations -----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["under_file", "proc", "is_dir"])
def test_unwritable_train_folder(tmp_path: Path, capsys, where: str) -> None:
    (tmp_path / "afile").write_text("x")
    out = {"under_file": tmp_path / "afile" / "run", "proc": Path("/proc/companion_run"), "is_dir": tmp_path / "afile"}
    rc, err = run_cli(capsys, "train", "--out", str(out[where]), *TINY)
    one_line(rc, err, str(out[where]) if where != "under_file" else "is a file")


@pytest.mark.parametrize("where", ["under_file", "proc", "dir_named_npy"])
def test_unwritable_sample_output(run: Path, tmp_path: Path, capsys, where: str) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "x.npy").mkdir()
    out = {
        "under_file": tmp_path / "afile" / "s.npy",
        "proc": Path("/proc/companion_s.npy"),
        "dir_named_npy": tmp_path / "x.npy",
    }[where]
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(run / "ckpt.pt"), "--out", str(out), "--device", "cpu")
    one_line(rc, err, {"under_file": "is a file", "proc": "cannot be written", "dir_named_npy": "is a folder"}[where])


def test_full_disk_during_checkpoint_keeps_the_last_good_one(tmp_path: Path, capsys, monkeypatch) -> None:
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), *TINY]) == 0
    good = (out / "ckpt.pt").read_bytes()
    real_save = torch.save

    def full_disk(obj, f, *a, **kw):
        real_save(obj, f, *a, **kw)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    rc, err = run_cli(capsys, "train", "--out", str(out), *TINY, "--epochs", "2", "--resume")
    one_line(rc, err, "No space left on device")
    assert str(out / "ckpt.pt") in err
    assert (out / "ckpt.pt").read_bytes() == good
    assert not list(out.glob(".ckpt.pt.tmp-*"))


def test_stale_temporary_files_are_removed_on_the_next_start(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), *TINY]) == 0
    stale = out / ".ckpt.pt.tmp-99999"
    stale.write_bytes(b"half a checkpoint")
    keep = out / "tmp-notes.txt"
    keep.write_text("not ours")
    assert main(["train", "--out", str(out), *TINY, "--epochs", "2", "--resume"]) == 0
    assert not stale.exists() and keep.exists()


def test_full_disk_during_log_write(tmp_path: Path, capsys, monkeypatch) -> None:
    import companion.runlog as runlog

    out = tmp_path / "r"
    assert main(["train", "--out", str(out), *TINY]) == 0
    log_before = (out / "metrics.jsonl").read_bytes()

    from companion.errors import OutputError

    def full(path, write):
        raise OutputError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(runlog, "atomic_write", full)
    rc, err = run_cli(capsys, "train", "--out", str(out), *TINY, "--epochs", "2", "--resume")
    one_line(rc, err, "metrics.jsonl: No space left on device")
    assert (out / "metrics.jsonl").read_bytes() == log_before
    assert load_checkpoint(out / "ckpt.pt", GAN_FORMAT)["epoch"] == 1


# --- checkpoints ----------------------------------------------------------------------------------


def _without(run: Path, tmp_path: Path, key: str) -> Path:
    ck = load_checkpoint(run / "ckpt.pt", GAN_FORMAT)
    ck.pop("sha256")
    ck.pop(key)
    path = tmp_path / f"no_{key}.pt"
    save_atomic(ck, path)
    return path


@pytest.mark.parametrize("key", ["generator", "meta", "config"])
def test_missing_key_named_for_sample(run: Path, tmp_path: Path, capsys, key: str) -> None:
    bad = _without(run, tmp_path, key)
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(bad), "--out", str(tmp_path / "s.npy"))
    one_line(rc, err, f"lacks the entry '{key}'")


def test_missing_key_named_for_invert_and_restore(run: Path, tmp_path: Path, capsys, digits: Path) -> None:
    bad = _without(run, tmp_path, "generator")
    rc, err = run_cli(
        capsys, "invert", "--generator", str(bad), "--images", str(digits), "--out", str(tmp_path / "o.npy")
    )
    one_line(rc, err, "lacks the entry 'generator'")
    rc, err = run_cli(
        capsys, "restore", "--generator", str(bad), "--task", "denoise", "--images", str(digits), "--out",
        str(tmp_path / "o.npy"),
    )  # fmt: skip
    one_line(rc, err, "lacks the entry 'generator'")


@pytest.mark.parametrize("key", ["opt_g", "discriminator", "rng"])
def test_missing_key_named_for_resume(tmp_path: Path, capsys, key: str) -> None:
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), *TINY]) == 0
    ck = load_checkpoint(out / "ckpt.pt", GAN_FORMAT)
    ck.pop("sha256")
    ck.pop(key)
    save_atomic(ck, out / "ckpt.pt")
    rc, err = run_cli(capsys, "train", "--out", str(out), *TINY, "--epochs", "2", "--resume")
    one_line(rc, err, f"lacks the entry '{key}'")


def test_nan_weights_are_refused_for_sampling(run: Path, tmp_path: Path, capsys) -> None:
    ck = load_checkpoint(run / "ckpt.pt", GAN_FORMAT)
    ck.pop("sha256")
    name = next(k for k, v in ck["generator"].items() if v.is_floating_point())
    ck["generator"][name] = ck["generator"][name].clone().fill_(float("nan"))
    save_atomic(ck, tmp_path / "nan.pt")
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(tmp_path / "nan.pt"), "--out", str(tmp_path / "s.npy"))
    one_line(rc, err, "contain NaN or Inf")
    assert not (tmp_path / "s.npy").exists()


def test_flipped_bit_is_caught_by_the_integrity_check(run: Path, tmp_path: Path, capsys) -> None:
    ck = load_checkpoint(run / "ckpt.pt", GAN_FORMAT)
    name = next(k for k, v in ck["generator"].items() if v.is_floating_point() and v.numel() > 10)
    w = ck["generator"][name].contiguous().clone()
    w.view(-1).view(torch.int32)[5] ^= 1 << 20  # one bit of one weight
    ck["generator"][name] = w
    torch.save(ck, tmp_path / "flipped.pt")  # the old digest stays: the content no longer matches it
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(tmp_path / "flipped.pt"), "--out", str(tmp_path / "s.npy"))
    one_line(rc, err, "fails its integrity check")


def test_pickle_checkpoint_is_refused_without_unsafe_advice(tmp_path: Path, capsys) -> None:
    class Payload:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    torch.save({"format": GAN_FORMAT, "x": Payload()}, tmp_path / "evil.pt")
    rc, err = run_cli(capsys, "sample", "--checkpoint", str(tmp_path / "evil.pt"), "--out", str(tmp_path / "s.npy"))
    one_line(rc, err, "was refused")
    assert "weights_only=False" not in err and not (tmp_path / "pwned").exists()


# --- options of every command ---------------------------------------------------------------------


@pytest.mark.parametrize("device", ["bogus", "meta"])
def test_device_is_validated_by_every_command(run: Path, tmp_path: Path, capsys, digits: Path, device: str) -> None:
    g = str(run / "ckpt.pt")
    o = str(tmp_path / "o.npy")
    commands = [
        ["train", "--out", str(tmp_path / "t"), *TINY, "--device", device],
        ["sample", "--checkpoint", g, "--out", o, "--device", device],
        ["classifier", "train", "--dataset", "synthetic", "--device", device, "--out", str(tmp_path / "c.pt")],
        ["encoder", "train", "--generator", g, "--out", str(tmp_path / "e"), "--device", device],
        ["invert", "--generator", g, "--images", str(digits), "--out", o, "--device", device],
        ["restore", "--generator", g, "--task", "denoise", "--images", str(digits), "--out", o, "--device", device],
    ]
    for argv in commands:
        rc, err = run_cli(capsys, *argv)
        one_line(rc, err, f"unknown device '{device}'")
    assert not (tmp_path / "t").exists() and not (tmp_path / "e").exists() and not Path(o).exists()


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--seed", str(2**63)], "seed must lie in 0..2**63-1"),
        (["--seed", "-1"], "seed must lie in 0..2**63-1"),
        (["--lr", "nan"], "lr must be a finite positive number"),
        (["--lr", "inf"], "lr must be a finite positive number"),
        (["--lr", "1e300"], "lr must be a finite positive number"),
    ],
)
def test_train_rejects_out_of_range_numbers(tmp_path: Path, capsys, argv: list[str], match: str) -> None:
    rc, err = run_cli(capsys, "train", "--out", str(tmp_path / "r"), *TINY, *argv)
    one_line(rc, err, match)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--lr", "nan"], "lr must be a finite positive number"),
        (["--lr", "-0.1"], "lr must be a finite positive number"),
        (["--batch-size", "100000", "--data-dir", "unused"], "larger than the 1024 training images"),
    ],
)
def test_encoder_rejects_bad_settings_before_writing(run: Path, tmp_path: Path, capsys, argv, match) -> None:
    out = tmp_path / "enc"
    rc, err = run_cli(capsys, "encoder", "train", "--generator", str(run / "ckpt.pt"), "--out", str(out), *argv)
    one_line(rc, err, match)
    assert not out.exists()


def test_invert_with_infinite_lr_is_refused(run: Path, tmp_path: Path, capsys, digits: Path) -> None:
    argv = ["invert", "--generator", str(run / "ckpt.pt"), "--images", str(digits), "--out", str(tmp_path / "o.npy")]
    rc, err = run_cli(capsys, *argv, "--lr", "inf")
    one_line(rc, err, "lr must be a finite positive number")


def test_latents_that_turn_nan_are_not_reported_as_success() -> None:
    """Fault injection: a generator whose gradient turns NaN; the solver must refuse, not return NaN latents."""
    from companion.errors import CompanionError
    from companion.inversion import InversionConfig, fit_latent

    class Poisoned(torch.nn.Module):
        latent_dim = 16

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(z.reshape(-1, 1, 4, 4) * torch.sqrt(-self.w))  # sqrt(-1) = NaN

    with pytest.raises(CompanionError, match="diverged"):
        fit_latent(Poisoned(), torch.rand(2, 1, 4, 4), InversionConfig(steps=5, restarts=1, prior="none"))


@pytest.mark.parametrize("command", ["invert", "restore"])
def test_out_equal_to_images_is_refused(run: Path, capsys, digits: Path, command: str) -> None:
    before = digits.read_bytes()
    extra = ["--task", "denoise"] if command == "restore" else []
    rc, err = run_cli(capsys, command, "--generator", str(run / "ckpt.pt"), *extra, "--images", str(digits), "--out",
                      str(digits))  # fmt: skip
    one_line(rc, err, "would overwrite the input")
    assert digits.read_bytes() == before


def test_object_dtype_mask_is_one_line(run: Path, tmp_path: Path, capsys, digits: Path) -> None:
    mask = tmp_path / "mask.npy"
    np.save(mask, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    rc, err = run_cli(capsys, "restore", "--generator", str(run / "ckpt.pt"), "--task", "inpaint", "--mask", str(mask),
                      "--images", str(digits), "--out", str(tmp_path / "o.npy"))  # fmt: skip
    one_line(rc, err, "Python objects (a pickle)")


def test_printed_mean_psnr_is_the_mean_of_per_image_values() -> None:
    """One perfect and one poor reconstruction: the mean of per-image PSNRs, not the PSNR of the mean MSE."""
    from companion.cli.common import psnr_line as _psnr_line

    x = torch.zeros(2, 1, 4, 4)
    recon = x.clone()
    recon[1] += 0.1  # PSNR 20 dB; image 0 is exact: 120 dB (MSE clamped at 1e-12)
    line = _psnr_line(recon, x)
    assert "(mean of per-image values) 70.00 dB" in line  # (120 + 20) / 2
    assert "23.01" not in line  # the PSNR of the mean MSE, 10 log10(1 / 0.005), is not what is printed


def test_cli_says_which_psnr_it_prints(run: Path, tmp_path: Path, capsys, digits: Path) -> None:
    out = tmp_path / "o.npy"
    assert main(["invert", "--generator", str(run / "ckpt.pt"), "--images", str(digits), "--out", str(out),
                 "--steps", "5", "--restarts", "1", "--device", "cpu"]) == 0  # fmt: skip
    assert "PSNR (mean of per-image values)" in capsys.readouterr().out
