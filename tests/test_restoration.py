"""Chapter 3: operators (shapes, adjoints), the GAN-prior solver on in-span images, baselines, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from companion.baselines import (
    bicubic_upsample,
    biharmonic_inpaint,
    dct_lasso_cs,
    dct_matrix,
    gaussian_denoise,
    least_squares_cs,
    nlm_denoise,
    tune,
    tv_denoise,
)
from companion.cli import main
from companion.config import make_config
from companion.data import make_synthetic
from companion.errors import ConfigError, DataError
from companion.experiment import load_generator, run_training
from companion.inversion import InversionConfig
from companion.metrics import psnr
from companion.restoration import TASKS, GaussianSensing, Mask, make_task, restore

SHAPE = (1, 28, 28)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_operator_shapes_and_adjoint(name: str) -> None:
    task, option = TASKS[name]
    op = make_task(task, option, 5, SHAPE)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, *SHAPE, generator=g, dtype=torch.float32).double()
    ax = op(x.float()).double()
    y = torch.randn(ax.shape, generator=g).double()
    lhs = (ax * y).sum()
    rhs = (x * op.adjoint(y.float()).double()).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-5), (float(lhs), float(rhs))
    if task == "superres":
        expected = (5, 1, 28 // int(option), 28 // int(option))
    elif task == "cs":
        expected = (5, int(option))
    else:
        expected = (5, *SHAPE)
    assert tuple(ax.shape) == expected
    assert op.view(op.degrade(x.float())).shape == (5, *SHAPE)


def test_noise_is_seeded_and_has_the_right_level() -> None:
    op = make_task("denoise", 0.3, 1, SHAPE)
    x = torch.zeros(200, *SHAPE)
    y = op.degrade(x, seed=1)
    assert torch.equal(y, op.degrade(x, seed=1))
    assert float(y.std()) == pytest.approx(0.3, rel=0.02)


def test_masks_hide_what_they_should() -> None:
    box = make_task("box", 14, 1, SHAPE)
    assert int((box.mask == 0).sum()) == 14 * 14
    drop = make_task("dropout", 0.8, 50, SHAPE)
    assert float(1 - drop.mask.mean()) == pytest.approx(0.8, abs=0.01) and drop.mask.shape[0] == 50
    half = make_task("half", 0, 1, SHAPE)
    assert float(half.mask[..., :14, :].min()) == 1 and float(half.mask[..., 14:, :].max()) == 0


@pytest.mark.parametrize(
    "factory,match,exc",
    [
        (lambda: make_task("denoise", -0.1, 1, SHAPE), "sigma must be >= 0", ConfigError),
        (lambda: make_task("cs", 0, 1, SHAPE), "m must lie in 1..784", ConfigError),
        (lambda: make_task("cs", 785, 1, SHAPE), "m must lie in 1..784", ConfigError),
        (lambda: make_task("superres", 3, 1, SHAPE), "must divide", ConfigError),
        (lambda: Mask(SHAPE, torch.ones(1, 1, 32, 32)), "does not fit", DataError),
        (lambda: make_task("blur", 1, 1, SHAPE), "unknown task", ConfigError),
    ],
)
def test_bad_operators(factory, match: str, exc: type) -> None:
    with pytest.raises(exc, match=match):
        factory()


def test_operator_rejects_images_of_the_wrong_size() -> None:
    with pytest.raises(DataError, match="do not fit"):
        make_task("box", 8, 1, SHAPE).degrade(torch.zeros(2, 1, 32, 32))


@pytest.fixture(scope="module")
def gan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rest") / "gan"
    run_training(
        make_config(None, dataset="synthetic", epochs=3, batch_size=64, fid_samples=0, device="cpu", n_fixed=8),
        out,
        progress=False,
    )
    return out / "ckpt.pt"


@pytest.mark.parametrize("name", ["noise σ=0.5", "box 14x14", "dropout 80%", "SR 4x", "CS m=100"])
def test_gan_prior_restores_in_span_images(gan: Path, name: str) -> None:
    G, _, _ = load_generator(gan)
    with torch.no_grad():
        x = G(torch.randn(6, 100, generator=torch.Generator().manual_seed(2)))
    op = make_task(*TASKS[name], 6, SHAPE)
    y = op.degrade(x, seed=0)
    res = restore(G, y, op, InversionConfig(steps=300, restarts=4, patience=0))
    assert float(psnr(res.images, x).mean()) > float(psnr(op.view(y), x).mean()) + 3
    assert float(psnr(res.images, x).median()) > 22


def test_inpainting_uses_l1_on_known_pixels_by_default(gan: Path) -> None:
    G, _, _ = load_generator(gan)
    op = make_task("box", 14, 2, SHAPE)
    x = make_synthetic(2).float_images()
    res = restore(G, op.degrade(x), op, InversionConfig(steps=5, restarts=1))
    pred = G(res.z).detach()
    assert torch.allclose(res.data_loss, ((pred - x).abs() * op.mask).flatten(1).sum(1) / op.mask.sum(), atol=1e-5)


def test_denoisers_reduce_noise_and_tuning_picks_from_the_grid() -> None:
    x = make_synthetic(8, seed=3).float_images()
    y = make_task("denoise", 0.3, 8, SHAPE).degrade(x)
    base = float(psnr(y.clamp(0, 1), x).mean())
    for fn, s in ((tv_denoise, 0.2), (nlm_denoise, 0.3), (gaussian_denoise, 1.0)):
        assert float(psnr(fn(y, s), x).mean()) > base
    assert tune(tv_denoise, y, x, (0.001, 0.2)) == 0.2


def test_inpaint_sr_and_cs_baselines_beat_their_inputs() -> None:
    x = make_synthetic(6, seed=4).float_images()
    box = make_task("box", 8, 6, SHAPE)
    assert float(psnr(biharmonic_inpaint(box.degrade(x), box), x).mean()) > float(psnr(box.degrade(x), x).mean())
    sr = make_task("superres", 2, 6, SHAPE)
    assert float(psnr(bicubic_upsample(sr.degrade(x), sr), x).mean()) > 15
    cs = make_task("cs", 400, 6, SHAPE)
    y = cs.degrade(x)
    assert float(psnr(dct_lasso_cs(y, cs, 0.01), x).mean()) > float(psnr(least_squares_cs(y, cs), x).mean())


def test_dct_matrix_is_orthonormal() -> None:
    d = dct_matrix(28)
    assert torch.allclose(d @ d.T, torch.eye(28, dtype=torch.float64), atol=1e-12)


def test_restore_cli(gan: Path, tmp_path: Path) -> None:
    imgs = tmp_path / "x.npy"
    np.save(imgs, make_synthetic(3, seed=1).images.numpy())
    for task, extra in (
        ("denoise", ["--sigma", "0.5"]),
        ("inpaint", ["--mask", "box14"]),
        ("superres", ["--factor", "4"]),
        ("cs", ["--m", "50"]),
    ):
        out = tmp_path / f"{task}.npy"
        assert (
            main(
                [
                    "restore",
                    "--generator",
                    str(gan),
                    "--task",
                    task,
                    *extra,
                    "--images",
                    str(imgs),
                    "--out",
                    str(out),
                    "--steps",
                    "10",
                    "--restarts",
                    "2",
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
        assert np.load(out).shape == (3, 1, 28, 28)
        assert np.load(tmp_path / f"{task}_degraded.npy").shape == (3, 1, 28, 28)


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--task", "denoise", "--sigma", "-1"], "sigma must be >= 0"),
        (["--task", "cs", "--m", "0"], "m must lie in 1..784"),
        (["--task", "cs", "--m", "1000"], "m must lie in 1..784"),
        (["--task", "inpaint", "--mask", "circle"], "--mask must be one of"),
        (["--task", "superres", "--factor", "5"], "must divide"),
    ],
)
def test_restore_cli_bad_input(gan: Path, tmp_path: Path, capsys, extra: list[str], match: str) -> None:
    imgs = tmp_path / "x.npy"
    np.save(imgs, make_synthetic(2).images.numpy())
    rc = main(["restore", "--generator", str(gan), *extra, "--images", str(imgs), "--out", str(tmp_path / "o.npy")])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1


def test_restore_cli_mask_file_of_wrong_shape(gan: Path, tmp_path: Path, capsys) -> None:
    imgs = tmp_path / "x.npy"
    np.save(imgs, make_synthetic(2).images.numpy())
    np.save(tmp_path / "m.npy", np.ones((20, 20), np.float32))
    rc = main(
        [
            "restore",
            "--generator",
            str(gan),
            "--task",
            "inpaint",
            "--mask",
            str(tmp_path / "m.npy"),
            "--images",
            str(imgs),
            "--out",
            str(tmp_path / "o.npy"),
        ]
    )
    assert rc == 2 and "has shape (20, 20)" in capsys.readouterr().err


def test_gaussian_sensing_is_seeded() -> None:
    assert torch.equal(GaussianSensing(SHAPE, 10, seed=1).matrix, GaussianSensing(SHAPE, 10, seed=1).matrix)
