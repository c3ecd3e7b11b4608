"""Restoring what a user has: degraded files in, restored files out (companion degrade / restore --observed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from companion.cli import main
from companion.config import make_config
from companion.data import make_synthetic
from companion.experiment import run_training

FAST = ["--steps", "30", "--restarts", "2", "--device", "cpu", "--seed", "0"]


def _restore(gan: Path, task: str) -> list[str]:
    """The head of every restore command line here: the generator and the task."""
    return ["restore", "--generator", str(gan), "--task", task]


@pytest.fixture(scope="module")
def gan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("obs") / "gan"
    cfg = make_config(None, dataset="synthetic", epochs=2, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
    run_training(cfg, out, progress=False, render=False)
    return out / "ckpt.pt"


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    path = tmp_path / "clean.npy"
    np.save(path, make_synthetic(4, seed=3).images.numpy())
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = int(exc.code)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


TASKS = {
    "denoise": ["--sigma", "0.3"],
    "inpaint": ["--mask", "box14"],
    "superres": ["--factor", "2"],
    "cs": ["--m", "100"],
}


def _observed_args(task: str, folder: Path, fmt: str) -> list[str]:
    if task == "cs":
        return ["--observed", str(folder / "measurements.npy"), "--matrix", str(folder / "matrix.npy")]
    obs = folder / ("observed" if fmt == "png" else "observed.npy")
    extra = ["--sigma", "0.3"] if task == "denoise" else []
    if task == "inpaint":
        extra = ["--mask", str(folder / ("masks" if fmt == "png" else "mask.npy"))]
    return ["--observed", str(obs), *extra]


@pytest.mark.parametrize("task", sorted(TASKS))
def test_round_trip_npy_equals_the_clean_path_exactly(
    gan: Path, clean: Path, tmp_path: Path, capsys, task: str
) -> None:
    """Degrade to float .npy files, restore --observed: bit for bit what --clean gives with the same seeds."""
    deg = tmp_path / "deg"
    assert (
        main(["degrade", "--task", task, "--images", str(clean), "--out", str(deg), "--format", "npy", *TASKS[task]])
        == 0
    )
    assert (
        main(
            [
                *_restore(gan, task),
                "--clean",
                str(clean),
                *TASKS[task],
                "--out",
                str(tmp_path / "a.npy"),
                *FAST,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *_restore(gan, task),
                *_observed_args(task, deg, "npy"),
                "--out",
                str(tmp_path / "b.npy"),
                *FAST,
            ]
        )
        == 0
    )
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


@pytest.mark.parametrize("task", ["denoise", "inpaint", "superres"])
def test_round_trip_through_png_files(gan: Path, clean: Path, tmp_path: Path, capsys, task: str) -> None:
    """PNG observations are quantised to 8 bits (and noise clipped to [0, 1]): the result stays within 2 grey levels
    on average of the --clean path's, and a folder of PNGs comes back as PNGs with the same names."""
    deg = tmp_path / "deg"
    assert main(["degrade", "--task", task, "--images", str(clean), "--out", str(deg), *TASKS[task]]) == 0
    assert (
        main(
            [
                *_restore(gan, task),
                "--clean",
                str(clean),
                *TASKS[task],
                "--out",
                str(tmp_path / "a.npy"),
                *FAST,
            ]
        )
        == 0
    )
    out = tmp_path / "restored"
    argv = [*_restore(gan, task), *_observed_args(task, deg, "png"), "--out", str(out)]
    assert main([*argv, "--compare", str(tmp_path / "cmp.png"), *FAST]) == 0
    names = sorted(p.name for p in (deg / "observed").iterdir())
    assert sorted(p.name for p in out.iterdir()) == names
    b = np.stack([np.asarray(Image.open(out / n))[None] for n in names]).astype(float)
    a = np.load(tmp_path / "a.npy").astype(float)
    assert np.abs(a - b).mean() < 2.0, np.abs(a - b).mean()
    assert (tmp_path / "cmp.png").is_file()


def test_denoise_estimates_sigma_when_not_given(gan: Path, clean: Path, tmp_path: Path, capsys) -> None:
    deg = tmp_path / "deg"
    assert (
        main(
            [
                "degrade",
                "--task",
                "denoise",
                "--images",
                str(clean),
                "--out",
                str(deg),
                "--format",
                "npy",
                "--sigma",
                "0.2",
            ]
        )
        == 0
    )
    capsys.readouterr()
    rc, out, _ = run_cli(
        capsys,
        *_restore(gan, "denoise"),
        "--observed",
        str(deg / "observed.npy"),
        "--out",
        str(tmp_path / "r.npy"),
        *FAST,
    )
    assert rc == 0
    import re

    est = float(re.search(r"sigma = ([0-9.]+)", out).group(1))
    assert abs(est - 0.2) < 0.05, est
    assert "residual RMS" in out


def test_superres_factor_is_inferred_and_colour_is_converted(gan: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "lr"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (7, 7, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    rc, out, err = run_cli(
        capsys,
        *_restore(gan, "superres"),
        "--observed",
        str(folder),
        "--out",
        str(tmp_path / "hr"),
        *FAST,
    )
    assert rc == 0, err
    assert "factor inferred from the sizes: 4" in out and "colour converted to grey" in out
    assert Image.open(tmp_path / "hr" / "0.png").size == (28, 28)


def test_larger_images_are_cropped_and_resized(gan: Path, tmp_path: Path, capsys) -> None:
    x = np.zeros((2, 40, 56), np.float32)
    np.save(tmp_path / "big.npy", x)
    rc, out, err = run_cli(
        capsys,
        *_restore(gan, "denoise"),
        "--observed",
        str(tmp_path / "big.npy"),
        "--sigma",
        "0.1",
        "--out",
        str(tmp_path / "o.npy"),
        *FAST,
    )
    assert rc == 0, err
    assert "40x56 centre-cropped to 40x40 and resized to 28x28" in out
    assert np.load(tmp_path / "o.npy").shape == (2, 1, 28, 28)


# --- bad input: one line, exit 2, nothing overwritten -----------------------------------------------


def _one_line(rc: int, err: str, match: str) -> None:
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err and match in lines[0], err


@pytest.fixture
def observed(clean: Path, tmp_path: Path) -> Path:
    deg = tmp_path / "deg"
    assert main(["degrade", "--task", "inpaint", "--images", str(clean), "--out", str(deg), "--mask", "box8"]) == 0
    return deg


def test_mask_of_the_wrong_shape(gan: Path, observed: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "m.npy", np.ones((20, 20), np.float32))
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "inpaint"),
        "--observed",
        str(observed / "observed"),
        "--mask",
        str(tmp_path / "m.npy"),
        "--out",
        str(tmp_path / "o"),
    )
    _one_line(rc, err, "has shape (20, 20)")


def test_mask_count_must_match(gan: Path, observed: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "m.npy", np.ones((3, 28, 28), np.float32))
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "inpaint"),
        "--observed",
        str(observed / "observed"),
        "--mask",
        str(tmp_path / "m.npy"),
        "--out",
        str(tmp_path / "o"),
    )
    _one_line(rc, err, "holds 3 masks for 4 images")


def test_mask_folder_named_differently(gan: Path, observed: Path, tmp_path: Path, capsys) -> None:
    (observed / "masks" / "0000.png").rename(observed / "masks" / "zzz.png")
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "inpaint"),
        "--observed",
        str(observed / "observed"),
        "--mask",
        str(observed / "masks"),
        "--out",
        str(tmp_path / "o"),
    )
    _one_line(rc, err, "must be named like the images")


def test_negative_sigma(gan: Path, clean: Path, tmp_path: Path, capsys) -> None:
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "denoise"),
        "--observed",
        str(clean),
        "--sigma",
        "-0.1",
        "--out",
        str(tmp_path / "o.npy"),
    )
    _one_line(rc, err, "--sigma must be >= 0")


def test_png_that_is_not_an_image(gan: Path, observed: Path, tmp_path: Path, capsys) -> None:
    (observed / "observed" / "0001.png").write_bytes(b"not a png at all")
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "inpaint"),
        "--observed",
        str(observed / "observed"),
        "--mask",
        str(observed / "masks"),
        "--out",
        str(tmp_path / "o"),
    )
    _one_line(rc, err, "cannot read")
    assert not (tmp_path / "o").exists()


def test_grey_images_for_a_colour_generator_are_refused(tmp_path: Path, capsys) -> None:
    from companion.errors import DataError
    from companion.observed import load_observation

    np.save(tmp_path / "g.npy", np.zeros((2, 1, 64, 64), np.float32))
    with pytest.raises(DataError, match="have 1 channel"):
        load_observation("denoise", tmp_path / "g.npy", (3, 64, 64), sigma=0.1)


def test_output_folder_equal_to_input_is_refused(gan: Path, observed: Path, capsys) -> None:
    before = sorted((observed / "observed").iterdir())
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "inpaint"),
        "--observed",
        str(observed / "observed"),
        "--mask",
        str(observed / "masks"),
        "--out",
        str(observed / "observed"),
    )
    _one_line(rc, err, "would overwrite the input folder")
    assert sorted((observed / "observed").iterdir()) == before


def test_cs_without_matrix_and_matrix_with_clean(gan: Path, clean: Path, tmp_path: Path, capsys) -> None:
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "cs"),
        "--observed",
        str(clean),
        "--out",
        str(tmp_path / "o.npy"),
    )
    _one_line(rc, err, "needs --matrix")
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "cs"),
        "--clean",
        str(clean),
        "--matrix",
        str(clean),
        "--out",
        str(tmp_path / "o.npy"),
    )
    _one_line(rc, err, "--matrix is for --observed")


def test_measurements_that_do_not_fit_the_matrix(gan: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "y.npy", np.zeros((2, 50), np.float32))
    np.save(tmp_path / "A.npy", np.zeros((60, 784), np.float32))
    rc, _, err = run_cli(
        capsys,
        *_restore(gan, "cs"),
        "--observed",
        str(tmp_path / "y.npy"),
        "--matrix",
        str(tmp_path / "A.npy"),
        "--out",
        str(tmp_path / "o.npy"),
    )
    _one_line(rc, err, "expected (N, 60) measurements")


def test_degrade_refuses_a_folder_with_files(clean: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("x")
    rc, _, err = run_cli(capsys, "degrade", "--task", "denoise", "--images", str(clean), "--out", str(tmp_path / "d"))
    _one_line(rc, err, "not empty")
    assert (tmp_path / "d" / "keep.txt").read_text() == "x"


def test_estimate_sigma_on_known_noise() -> None:
    from companion.observed import estimate_sigma

    x = make_synthetic(8, seed=1).images.float() / 255
    noisy = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    assert abs(estimate_sigma(noisy) - 0.1) < 0.03
    assert estimate_sigma(x) < 0.05
