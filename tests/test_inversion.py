"""Chapter 2: latent optimisation recovers in-span images; the encoder learns; the hybrid never loses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from companion.cli import main
from companion.config import make_config
from companion.data import make_synthetic
from companion.encoder import EncoderConfig, load_encoder, train_encoder
from companion.errors import CheckpointError, DataError
from companion.experiment import load_generator, run_training
from companion.imageio import check_images, read_images
from companion.inversion import InversionConfig, fit_latent
from companion.metrics import psnr


@pytest.fixture(scope="module")
def gan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generator trained briefly on synthetic bars (the report's architecture)."""
    out = tmp_path_factory.mktemp("inv") / "gan"
    cfg = make_config(None, dataset="synthetic", epochs=3, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
    run_training(cfg, out, progress=False)
    return out / "ckpt.pt"


@pytest.fixture(scope="module")
def encoder(gan: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    G, _, _ = load_generator(gan)
    out = tmp_path_factory.mktemp("enc") / "enc"
    train_encoder(
        G, make_synthetic(1024).images, EncoderConfig(epochs=3, batch_size=64, device="cpu"), out, progress=False
    )
    return out / "ckpt.pt"


def test_optimisation_recovers_in_span_images(gan: Path) -> None:
    G, _, _ = load_generator(gan)
    z_true = torch.randn(6, 100, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        x = G(z_true)
    res = fit_latent(G, x, InversionConfig(steps=300, restarts=4, patience=0))
    assert float(psnr(res.images, x).median()) > 30


def test_best_restart_is_kept_and_restarts_help(gan: Path) -> None:
    G, _, _ = load_generator(gan)
    x = make_synthetic(8, seed=4).float_images()
    one = fit_latent(G, x, InversionConfig(steps=60, restarts=1, patience=0, seed=0))
    four = fit_latent(
        G,
        x,
        InversionConfig(steps=60, restarts=4, patience=0, seed=0),
        track=lambda im: float(psnr(im, x).mean()),
        track_every=20,
    )
    assert four.all_losses.shape == (8, 4)
    assert torch.equal(four.data_loss, four.all_losses.min(1).values)
    assert float(four.data_loss.mean()) < float(one.data_loss.mean())
    assert [h[0] for h in four.history] == [0, 20, 40, 60] and four.history[-1][1] == 240


def test_sphere_prior_keeps_z_on_the_sphere(gan: Path) -> None:
    G, _, _ = load_generator(gan)
    res = fit_latent(G, make_synthetic(4).float_images(), InversionConfig(steps=20, restarts=2, prior="sphere"))
    assert torch.allclose(res.z.norm(dim=1), torch.full((4,), 10.0), atol=1e-4)


def test_encoder_training_reduces_its_loss(encoder: Path) -> None:
    import json

    from companion.artifacts import render_run

    recs = [json.loads(x) for x in (encoder.parent / "metrics.jsonl").read_text().splitlines()]
    recs = [r for r in recs if r["type"] == "epoch"]
    assert recs[-1]["recon_mse"] < recs[0]["recon_mse"] and recs[-1]["latent_mse"] < recs[0]["latent_mse"]
    assert {p.name for p in render_run(encoder.parent)} == {"losses.png"}


def test_encoder_resume_is_exact(gan: Path, tmp_path: Path) -> None:
    G, _, _ = load_generator(gan)
    imgs = make_synthetic(256).images
    train_encoder(G, imgs, EncoderConfig(epochs=2, batch_size=64, device="cpu"), tmp_path / "a", progress=False)
    train_encoder(G, imgs, EncoderConfig(epochs=1, batch_size=64, device="cpu"), tmp_path / "b", progress=False)
    train_encoder(
        G, imgs, EncoderConfig(epochs=2, batch_size=64, device="cpu"), tmp_path / "b", resume=True, progress=False
    )
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=True)["encoder"]
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)["encoder"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_hybrid_is_never_worse_than_its_encoder_start(gan: Path, encoder: Path) -> None:
    G, _, _ = load_generator(gan)
    E = load_encoder(encoder, G)
    x = make_synthetic(16, seed=7).float_images()
    with torch.no_grad():
        z0 = E(x)
        start = (G(z0) - x).square().flatten(1).mean(1)
    res = fit_latent(G, x, InversionConfig(steps=50, restarts=1, prior="none"), z0=z0)
    assert (res.data_loss <= start + 1e-7).all()
    assert res.data_loss.mean() < start.mean()


def test_encoder_for_another_generator_is_refused(encoder: Path) -> None:
    from companion.models import ArchSpec, build_generator

    with pytest.raises(CheckpointError, match="another generator"):
        load_encoder(encoder, build_generator(ArchSpec("report28", 1, 100)))


@pytest.mark.parametrize(
    "array,match",
    [
        (np.zeros((3, 1, 32, 32), np.uint8), "generator makes"),
        (np.zeros((3, 3, 28, 28), np.uint8), "generator makes"),
        (np.full((2, 28, 28), 1.5, np.float32), "must lie in \\[0, 1\\]"),
        (np.zeros((0, 1, 28, 28), np.uint8), "non-empty"),
    ],
)
def test_check_images_rejects_bad_inputs(array: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        check_images(torch.from_numpy(array), (1, 28, 28))


def test_read_images_from_png_folder(tmp_path: Path) -> None:
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    x = read_images(tmp_path)
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.uint8 and int(x[2].max()) == 80
    with pytest.raises(DataError, match=r"no \.png"):
        read_images(_empty(tmp_path))


def _empty(tmp: Path) -> Path:
    d = tmp / "empty"
    d.mkdir()
    return d


def test_invert_cli_methods(gan: Path, encoder: Path, tmp_path: Path) -> None:
    imgs = tmp_path / "in.npy"
    np.save(imgs, make_synthetic(5, seed=3).images.numpy())
    for method in ("optimize", "encoder", "hybrid"):
        out = tmp_path / f"{method}.npy"
        rc = main(
            [
                "invert",
                "--generator",
                str(gan),
                "--method",
                method,
                "--encoder",
                str(encoder),
                "--images",
                str(imgs),
                "--out",
                str(out),
                "--steps",
                "20",
                "--restarts",
                "2",
                "--device",
                "cpu",
            ]
        )
        assert rc == 0
        rec = np.load(out)
        assert rec.shape == (5, 1, 28, 28) and rec.dtype == np.uint8
        assert np.load(tmp_path / f"{method}_z.npy").shape == (5, 100)


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--method", "hybrid"], "needs --encoder"),
        (["--loss", "l3"], "unknown data loss"),
        (["--restarts", "0"], "restarts must be positive"),
    ],
)
def test_invert_cli_bad_options(gan: Path, tmp_path: Path, capsys, extra: list[str], match: str) -> None:
    imgs = tmp_path / "in.npy"
    np.save(imgs, make_synthetic(2).images.numpy())
    rc = main(["invert", "--generator", str(gan), "--images", str(imgs), "--out", str(tmp_path / "o.npy"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1


def test_invert_cli_wrong_image_size(gan: Path, tmp_path: Path, capsys) -> None:
    imgs = tmp_path / "in.npy"
    np.save(imgs, np.zeros((2, 1, 64, 64), np.uint8))
    rc = main(["invert", "--generator", str(gan), "--images", str(imgs), "--out", str(tmp_path / "o.npy")])
    assert rc == 2 and "generator makes" in capsys.readouterr().err


def test_encoder_cli_trains_and_refuses_other_generator(gan: Path, encoder: Path, tmp_path: Path, capsys) -> None:
    rc = main(
        [
            "encoder",
            "train",
            "--generator",
            str(gan),
            "--out",
            str(tmp_path / "e"),
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert rc == 0 and (tmp_path / "e" / "ckpt.pt").is_file()
    other = tmp_path / "other"
    run_training(
        make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8, seed=3),
        other,
        progress=False,
    )
    imgs = tmp_path / "in.npy"
    np.save(imgs, make_synthetic(2).images.numpy())
    rc = main(
        [
            "invert",
            "--generator",
            str(other / "ckpt.pt"),
            "--method",
            "encoder",
            "--encoder",
            str(encoder),
            "--images",
            str(imgs),
            "--out",
            str(tmp_path / "o.npy"),
        ]
    )
    assert rc == 2 and "another generator" in capsys.readouterr().err


class LinearG(torch.nn.Module):
    """G(z) = z reshaped to a 1x4x4 image: the L2-prior problem then has a closed form."""

    latent_dim = 16

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(-1, 1, 4, 4) + 0 * self.dummy


@pytest.mark.parametrize("restarts", [1, 4])
def test_l2_prior_weight_is_the_lambda_of_the_equation(restarts: int) -> None:
    r"""min_z |z - y|^2 / D + lambda |z|^2 has z* = y / (1 + lambda D), whatever the number of restarts."""
    lam, d = 0.05, 16
    y = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    cfg = InversionConfig(steps=3000, restarts=restarts, lr=0.05, prior="l2", prior_weight=lam, patience=0)
    res = fit_latent(LinearG(), y, cfg)
    expected = y.reshape(3, d) / (1 + lam * d)
    assert torch.allclose(res.z, expected, atol=2e-3), (res.z - expected).abs().max()
    # negative control: the old scaling (lambda / restarts) lands elsewhere
    if restarts > 1:
        assert not torch.allclose(res.z, y.reshape(3, d) / (1 + lam * d / restarts), atol=2e-3)


def test_generator_flags_are_restored_even_on_error() -> None:
    G = LinearG()
    G.train()

    def failing_track(_):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fit_latent(G, torch.rand(2, 1, 4, 4), InversionConfig(steps=5, restarts=1), track=failing_track)
    assert G.dummy.requires_grad and G.training


def test_train_encoder_restores_generator_flags_on_error(gan: Path, tmp_path: Path) -> None:
    from companion.errors import ConfigError

    G, _, _ = load_generator(gan)
    G.train().requires_grad_(True)
    with pytest.raises(ConfigError, match="larger than"):
        train_encoder(G, make_synthetic(64).images, EncoderConfig(epochs=1, batch_size=128, device="cpu"), tmp_path)
    assert all(p.requires_grad for p in G.parameters()) and G.training
    assert not (tmp_path / "ckpt.pt").exists()
