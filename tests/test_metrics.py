"""FID in classifier features, mode coverage, PSNR/SSIM, and the classifier itself."""

from __future__ import annotations

import math

import pytest
import torch

from companion.data import make_synthetic
from companion.metrics import (
    FIDScorer,
    accuracy,
    classifier_path,
    get_classifier,
    load_classifier,
    mode_coverage,
    psnr,
    ssim,
)


@pytest.fixture(scope="module")
def synth_classifier():
    return get_classifier("synthetic", progress=False)


def test_classifier_is_trained_cached_and_accurate(synth_classifier) -> None:
    test = make_synthetic(256, seed=1)
    assert accuracy(synth_classifier, test.images, test.labels) > 0.9
    _model, info = load_classifier(classifier_path("synthetic"))
    assert info["dataset"] == "synthetic" and info["test_accuracy"] > 0.9


def test_fid_is_zero_on_identical_sets_and_grows_with_noise(synth_classifier) -> None:
    real = make_synthetic(512, seed=1)
    scorer = FIDScorer(synth_classifier, real.images)
    x = real.float_images()
    same = scorer.score_images(x)["fid"]
    assert abs(same) < 1e-3
    g = torch.Generator().manual_seed(0)
    fids = [scorer.score_images((x + s * torch.randn(x.shape, generator=g)).clamp(0, 1))["fid"] for s in (0.1, 0.3)]
    assert same < fids[0] < fids[1]


def test_fid_sees_a_missing_mode(synth_classifier) -> None:
    real = make_synthetic(1024, seed=1)
    scorer = FIDScorer(synth_classifier, real.images)
    other = make_synthetic(1024, seed=2)
    keep = other.labels != 3
    full = scorer.score_images(other.float_images())
    dropped = scorer.score_images(other.float_images()[keep])
    assert dropped["fid"] > full["fid"]
    assert full["modes"] == 10 and dropped["modes"] == 9


@pytest.mark.parametrize(
    "counts,modes,kl",
    [([10] * 10, 10, 0.0), ([100] + [0] * 9, 1, math.log(10)), ([50, 50] + [0] * 8, 2, math.log(5))],
)
def test_mode_coverage(counts: list[int], modes: int, kl: float) -> None:
    preds = torch.repeat_interleave(torch.arange(10), torch.tensor(counts))
    out = mode_coverage(preds)
    assert out["modes"] == modes and out["class_kl"] == pytest.approx(kl, abs=1e-9)


def test_psnr_known_value() -> None:
    x = torch.zeros(2, 1, 4, 4)
    y = torch.full((2, 1, 4, 4), 0.1)
    assert psnr(x, y).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)


def test_ssim_identity_is_one() -> None:
    x = make_synthetic(4).float_images()
    assert ssim(x, x).tolist() == pytest.approx([1.0] * 4, abs=1e-5)


def test_inception_without_weights_is_a_clear_error() -> None:
    from companion.errors import CompanionError

    real = make_synthetic(8).images
    try:
        scorer = FIDScorer(None, real, features="inception")
    except CompanionError as exc:
        assert "Inception FID features could not be loaded" in str(exc) and "\n" not in str(exc)
    else:  # the weights were available: then it must actually score
        assert math.isfinite(scorer.score_images(real.float() / 255)["fid"])
