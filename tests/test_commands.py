"""Every command's output, by value: what a command writes equals what the library computes on the same inputs.

A shape or dtype check passes on any image at all (the sample command once wrote thresholded
digits and its test stayed green). Each test here recomputes the command's numbers in-process
from the same checkpoint, inputs and seeds, and compares them exactly (or to the printed
precision): a rescaled, thresholded, transposed, reseeded or wrongly chosen output fails.
``benchmarks/mutation.py`` plants such bugs in the commands and checks that these tests see them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from companion.cli import main
from companion.config import make_config
from companion.data import make_synthetic
from companion.encoder import load_encoder
from companion.experiment import load_generator, run_training
from companion.inversion import InversionConfig, fit_latent
from companion.pixels import to_unit
from companion.restoration import cli_operator, restore

STEPS = ["--steps", "15", "--restarts", "2", "--seed", "0", "--device", "cpu"]
INV = InversionConfig(steps=15, restarts=2, seed=0)


def _quantise(x: torch.Tensor) -> np.ndarray:
    """The book's quantisation written out by hand (not through companion.pixels): round(255 clamp(x, 0, 1))."""
    return (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    rc = main(list(argv))
    out = capsys.readouterr()
    assert rc == 0, out.err
    return out.out


@pytest.fixture(scope="module")
def gan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cmd") / "gan"
    cfg = make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
    run_training(cfg, out, progress=False, render=False)
    return out


@pytest.fixture(scope="module")
def encoder(gan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cmd") / "enc"
    rc = main(["encoder", "train", "--generator", str(gan / "ckpt.pt"), "--out", str(out), "--epochs", "1",
               "--batch-size", "64", "--device", "cpu", "--no-progress"])  # fmt: skip
    assert rc == 0
    return out / "ckpt.pt"


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """Five uint8 test images, not square-symmetric (a transposed output differs)."""
    path = tmp_path / "digits.npy"
    np.save(path, make_synthetic(5, seed=3).images.numpy())
    return path


# --- train and sample -------------------------------------------------------------------------------


def test_train_fixed_batch_is_the_checkpoint_generator_on_the_fixed_latents(gan: Path) -> None:
    from companion.checkpoint import GAN_FORMAT, load_checkpoint

    G, _, _ = load_generator(gan / "ckpt.pt")
    fixed_z = load_checkpoint(gan / "ckpt.pt", GAN_FORMAT)["fixed_z"]
    with torch.no_grad():
        expected = _quantise(G(fixed_z))
    assert np.array_equal(np.load(gan / "fixed" / "epoch_001.npy"), expected)


@pytest.mark.parametrize("n,seed", [(37, 3), (5, 0)])
def test_sample_is_G_of_the_seeded_latents(gan: Path, tmp_path: Path, capsys, n: int, seed: int) -> None:
    out = tmp_path / "s.npy"
    line = _run(capsys, "sample", "--checkpoint", str(gan / "ckpt.pt"), "--n", str(n), "--seed", str(seed),
                "--out", str(out), "--device", "cpu")  # fmt: skip
    G, spec, _ = load_generator(gan / "ckpt.pt")
    z = torch.randn(n, spec.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        x = G(z)
    got = np.load(out)
    assert got.dtype == np.uint8 and got.shape == (n, 1, 28, 28)
    assert np.array_equal(got, _quantise(x))  # pixel for pixel: maximum difference 0
    assert abs(got.mean() / 255 - float(x.clamp(0, 1).mean())) < 0.5 / 255  # the mean pixel of G's own images
    assert f"uint8 {(n, 1, 28, 28)}" in line


def test_sample_of_an_ema_run_uses_the_average(tmp_path: Path, capsys) -> None:
    cfg = make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8,
                      ema=0.9)  # fmt: skip
    run_training(cfg, tmp_path / "ema", progress=False, render=False)
    _run(capsys, "sample", "--checkpoint", str(tmp_path / "ema" / "ckpt.pt"), "--n", "6", "--out",
         str(tmp_path / "s.npy"), "--device", "cpu")  # fmt: skip
    z = torch.randn(6, 100, generator=torch.Generator().manual_seed(0))
    G_ema, _, _ = load_generator(tmp_path / "ema" / "ckpt.pt")
    G_raw, _, _ = load_generator(tmp_path / "ema" / "ckpt.pt", ema=False)
    with torch.no_grad():
        ema, raw = _quantise(G_ema(z)), _quantise(G_raw(z))
    assert not np.array_equal(ema, raw)  # the control: the two generators differ
    assert np.array_equal(np.load(tmp_path / "s.npy"), ema)


# --- invert -------------------------------------------------------------------------------------------


def _2(v: torch.Tensor) -> float:
    """A number as the command prints it (two decimals)."""
    return float(f"{float(v):.2f}")


def _psnrs(line: str) -> list[float]:
    return [float(v) for v in re.findall(r"PSNR \(mean of per-image values\) ([-\d.]+) dB", line)]


@pytest.mark.parametrize("method", ["optimize", "encoder", "hybrid"])
def test_invert_writes_the_library_reconstruction_and_latents(
    gan: Path, encoder: Path, digits: Path, tmp_path: Path, capsys, method: str
) -> None:
    from companion.metrics import psnr

    out = tmp_path / "rec.npy"
    line = _run(capsys, "invert", "--generator", str(gan / "ckpt.pt"), "--method", method, "--encoder",
                str(encoder), "--images", str(digits), "--out", str(out), *STEPS)  # fmt: skip
    G, _, _ = load_generator(gan / "ckpt.pt")
    x = to_unit(torch.from_numpy(np.load(digits)))
    if method == "encoder":
        with torch.no_grad():
            z = load_encoder(encoder, G)(x)
            images = G(z)
    else:
        z0 = None
        if method == "hybrid":
            with torch.no_grad():
                z0 = load_encoder(encoder, G)(x)
        res = fit_latent(G, x, INV, z0=z0)
        z, images = res.z, res.images
    assert np.array_equal(np.load(out), _quantise(images))
    assert np.array_equal(np.load(tmp_path / "rec_z.npy"), z.numpy())
    assert _psnrs(line) == [_2(psnr(images.clamp(0, 1), x).mean())]


# --- degrade and restore ----------------------------------------------------------------------------

OPTIONS = {"denoise": {"sigma": 0.3}, "inpaint": {"mask": "box14"}, "superres": {"factor": 2}, "cs": {"m": 50}}
ARGS = {"denoise": ["--sigma", "0.3"], "inpaint": ["--mask", "box14"], "superres": ["--factor", "2"],
        "cs": ["--m", "50"]}  # fmt: skip


def _operator(task: str, n: int):
    o = {"sigma": 0.3, "mask": "box14", "factor": 2, "m": 100, **OPTIONS[task]}
    return cli_operator(task, n, (1, 28, 28), **o)


@pytest.mark.parametrize("task", sorted(OPTIONS))
def test_restore_clean_writes_the_library_restoration(
    gan: Path, digits: Path, tmp_path: Path, capsys, task: str
) -> None:
    from companion.metrics import psnr

    out = tmp_path / "r.npy"
    line = _run(capsys, "restore", "--generator", str(gan / "ckpt.pt"), "--task", task, "--clean", str(digits),
                *ARGS[task], "--out", str(out), *STEPS)  # fmt: skip
    G, _, _ = load_generator(gan / "ckpt.pt")
    x = to_unit(torch.from_numpy(np.load(digits)))
    op = _operator(task, 5)
    y = op.degrade(x, seed=0)
    res = restore(G, y, op, INV)
    assert np.array_equal(np.load(out), _quantise(res.images))
    assert np.array_equal(np.load(tmp_path / "r_degraded.npy"), _quantise(op.view(y)))
    expected = [_2(psnr(v, x).mean()) for v in (op.view(y), res.images)]
    assert _psnrs(line) == expected


@pytest.mark.parametrize("task", ["denoise", "inpaint", "superres"])
def test_degrade_png_files_are_the_library_observation(digits: Path, tmp_path: Path, capsys, task: str) -> None:
    out = tmp_path / "deg"
    _run(capsys, "degrade", "--task", task, "--images", str(digits), "--out", str(out), *ARGS[task], "--seed", "4")
    op = _operator(task, 5)
    y = op.degrade(to_unit(torch.from_numpy(np.load(digits))), seed=4)
    names = sorted(p.name for p in (out / "observed").iterdir())
    assert names == [f"{i:04d}.png" for i in range(5)]
    got = np.stack([np.asarray(Image.open(out / "observed" / n))[None] for n in names])
    assert np.array_equal(got, _quantise(y))
    if task == "inpaint":
        masks = np.stack([np.asarray(Image.open(out / "masks" / n))[None] for n in names])
        assert np.array_equal(masks, _quantise(op.mask.expand(5, 1, 28, 28)))


@pytest.mark.parametrize("task", sorted(OPTIONS))
def test_degrade_npy_files_are_the_library_observation(digits: Path, tmp_path: Path, capsys, task: str) -> None:
    out = tmp_path / "deg"
    _run(capsys, "degrade", "--task", task, "--images", str(digits), "--out", str(out), "--format", "npy",
         *ARGS[task], "--seed", "4")  # fmt: skip
    op = _operator(task, 5)
    y = op.degrade(to_unit(torch.from_numpy(np.load(digits))), seed=4)
    if task == "cs":
        assert np.array_equal(np.load(out / "measurements.npy"), y.numpy())
        assert np.array_equal(np.load(out / "matrix.npy"), op.matrix.numpy())
        return
    assert np.array_equal(np.load(out / "observed.npy"), y.numpy())  # float, unquantised: exactly y
    if task == "inpaint":
        assert np.array_equal(np.load(out / "mask.npy"), op.mask.expand(5, 1, 28, 28)[:, 0].numpy())


def test_restore_observed_png_folder_writes_the_library_restoration(
    gan: Path, digits: Path, tmp_path: Path, capsys
) -> None:
    from companion.observed import load_observation

    deg, out = tmp_path / "deg", tmp_path / "restored"
    _run(capsys, "degrade", "--task", "inpaint", "--images", str(digits), "--out", str(deg))
    _run(capsys, "restore", "--generator", str(gan / "ckpt.pt"), "--task", "inpaint", "--observed",
         str(deg / "observed"), "--mask", str(deg / "masks"), "--out", str(out), *STEPS)  # fmt: skip
    G, _, _ = load_generator(gan / "ckpt.pt")
    obs = load_observation("inpaint", deg / "observed", (1, 28, 28), mask=str(deg / "masks"))
    res = restore(G, obs.y, obs.op, INV)
    assert sorted(p.name for p in out.iterdir()) == obs.names
    got = np.stack([np.asarray(Image.open(out / n))[None] for n in obs.names])
    assert np.array_equal(got, _quantise(res.images))


def test_restore_observed_denoise_prints_the_residual_of_the_written_images(
    gan: Path, digits: Path, tmp_path: Path, capsys
) -> None:
    deg = tmp_path / "deg"
    _run(capsys, "degrade", "--task", "denoise", "--images", str(digits), "--out", str(deg), "--format", "npy")
    line = _run(capsys, "restore", "--generator", str(gan / "ckpt.pt"), "--task", "denoise", "--observed",
                str(deg / "observed.npy"), "--sigma", "0.3", "--out", str(tmp_path / "r.npy"), *STEPS)  # fmt: skip
    from companion.observed import load_observation

    obs = load_observation("denoise", deg / "observed.npy", (1, 28, 28), sigma=0.3)
    y = obs.y
    assert torch.equal(y, torch.from_numpy(np.load(deg / "observed.npy")))
    G, _, _ = load_generator(gan / "ckpt.pt")
    res = restore(G, y, obs.op, INV)
    assert np.array_equal(np.load(tmp_path / "r.npy"), _quantise(res.images))
    resid = float((res.images - y).square().mean().sqrt())
    assert f"residual RMS {resid:.3f} against sigma 0.300" in line


# --- encoder and classifier ---------------------------------------------------------------------------


def test_encoder_command_trains_what_train_encoder_trains(gan: Path, encoder: Path, tmp_path: Path) -> None:
    from companion.checkpoint import ENCODER_FORMAT, load_checkpoint
    from companion.config import TrainConfig
    from companion.encoder import EncoderConfig, train_encoder
    from companion.experiment import training_data

    G, _, gcfg = load_generator(gan / "ckpt.pt")
    data = training_data(TrainConfig(**gcfg), None)
    (tmp_path / "lib").mkdir()
    summary = train_encoder(G, data.images, EncoderConfig(epochs=1, batch_size=64, device="cpu"), tmp_path / "lib",
                            progress=False)  # fmt: skip
    a = load_checkpoint(encoder, ENCODER_FORMAT)["encoder"]
    b = load_checkpoint(tmp_path / "lib" / "ckpt.pt", ENCODER_FORMAT)["encoder"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    import json

    final = json.loads((encoder.parent / "summary.json").read_text())["final"]
    assert [final[k] for k in ("recon_mse", "latent_mse")] == [summary["final"][k] for k in ("recon_mse", "latent_mse")]


def test_classifier_command_prints_the_accuracy_of_the_file_it_wrote(tmp_path: Path, capsys) -> None:
    from companion.data import load_dataset
    from companion.metrics import accuracy, load_classifier

    path = tmp_path / "clf.pt"
    line = _run(capsys, "classifier", "train", "--dataset", "synthetic", "--epochs", "1", "--device", "cpu",
                "--out", str(path))  # fmt: skip
    model, info = load_classifier(path)
    test = load_dataset("synthetic", "test")
    acc = accuracy(model, test.images, test.labels)
    assert acc == info["test_accuracy"]
    assert f"test accuracy {acc:.2%}" in line
