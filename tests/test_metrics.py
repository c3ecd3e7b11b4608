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


def _frechet_by_hand(a: torch.Tensor, b: torch.Tensor) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) in float64 (unbiased covariances).

    tr((S_a S_b)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the
    symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2), which has the same eigenvalues as S_a S_b; this
    stays exact when the covariances are singular (ReLU features often are).
    """
    import numpy as np

    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    half = (v * np.sqrt(w.clip(0))) @ v.T
    tr_root = np.sqrt(np.linalg.eigvalsh(half @ s_b @ half).clip(0)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_root)


def test_fid_equals_the_frechet_distance_of_the_classifier_features(synth_classifier) -> None:
    """FIDScorer on uint8 real images and float fakes = the closed form on features of images in [0, 1]."""
    real = make_synthetic(600, seed=1)
    fake = make_synthetic(500, seed=2).float_images()[:, :, :, torch.arange(27, -1, -1)]  # mirrored digits
    scorer = FIDScorer(synth_classifier, real.images)
    with torch.no_grad():
        f_real = synth_classifier.features(real.float_images())
        f_fake = synth_classifier.features(fake)
    expected = _frechet_by_hand(f_real, f_fake)
    assert expected > 1.0  # a distance that means something, not ~0
    assert scorer.score_images(fake)["fid"] == pytest.approx(expected, rel=1e-3)
    # uint8 and [0, 1] floats of the same fakes are the same images
    from companion.pixels import to_uint8

    assert scorer.score_images(to_uint8(fake))["fid"] == pytest.approx(scorer.score_images(fake)["fid"], rel=1e-3)


def test_fid_floor_scores_disjoint_sets(synth_classifier) -> None:
    from companion.metrics import fid_floor

    ref = make_synthetic(400, seed=1)
    pool = make_synthetic(300, seed=5).images
    scorer = FIDScorer(synth_classifier, ref.images)
    got = fid_floor(scorer, pool, 100, repeats=3)
    expected = [scorer.score_images(pool[i * 100 : (i + 1) * 100])["fid"] for i in range(3)]
    assert got == pytest.approx(expected, rel=1e-6)
    assert len(set(round(v, 6) for v in got)) == 3  # three different sets, three different values


def test_psnr_is_per_image() -> None:
    """Two images with different errors: each gets its own value, 10 log10(1 / MSE_i)."""
    x = torch.zeros(2, 1, 2, 3)
    y = x.clone()
    y[0] += 0.1  # MSE 0.01 -> 20 dB
    y[1, 0, 0, 0] = 0.6  # MSE 0.36 / 6 = 0.06 -> 12.218 dB
    assert psnr(y, x).tolist() == pytest.approx([20.0, 10 * math.log10(1 / 0.06)], abs=1e-4)


def test_mode_coverage_counts_a_class_at_exactly_the_threshold() -> None:
    from companion.metrics import COVERAGE_MIN_SHARE

    counts = [2] + [98] + [0] * 8  # class 0 at exactly 2 %: covered; classes 2..9 absent
    assert COVERAGE_MIN_SHARE == 0.02
    preds = torch.repeat_interleave(torch.arange(10), torch.tensor(counts))
    out = mode_coverage(preds)
    assert out["modes"] == 2
    assert out["class_hist"][:2] == [0.02, 0.98]
    kl = 0.02 * math.log(0.02 * 10) + 0.98 * math.log(0.98 * 10)
    assert out["class_kl"] == pytest.approx(kl, abs=1e-12)


def test_blank_samples_counts_images_whose_brightest_pixel_is_below_32() -> None:
    from companion.metrics import blank_samples

    images = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    images[1, 0, 3, 4] = 31  # still blank
    images[2, 0, 5, 6] = 32  # one pixel at the threshold: drawn
    images[3] = 200
    assert blank_samples(images) == 2
