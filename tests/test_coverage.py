"""Improved precision and recall (companion.coverage): a hand computation, brute force, and controls."""

from __future__ import annotations

import pytest
import torch

from companion.coverage import classifier_features, knn_radii, precision_recall
from companion.errors import CompanionError


def test_hand_computed_one_dimensional_example() -> None:
    """real {0, 1, 3}, fake {0.2, 2.5, 6}, k = 1.

    Real radii (nearest other real point): 1, 1, 2. Fake 0.2 is within 0.2 of real 0 (radius 1): in; 2.5 is
    within 0.5 of real 3 (radius 2): in; 6 is 3 from real 3 (radius 2), 5 from real 1, 6 from real 0: out.
    Precision 2/3. Fake radii: 2.3, 2.3, 3.5; every real point is within 0.8 of fake 0.2 or 2.5: recall 1.
    """
    real = torch.tensor([[0.0], [1.0], [3.0]])
    fake = torch.tensor([[0.2], [2.5], [6.0]])
    assert knn_radii(real, 1).tolist() == pytest.approx([1.0, 1.0, 2.0])
    assert knn_radii(fake, 1).tolist() == pytest.approx([2.3, 2.3, 3.5])
    assert precision_recall(real, fake, k=1) == pytest.approx({"precision": 2 / 3, "recall": 1.0})
    # the roles swap exactly: recall of real against fake is precision of fake against real
    assert precision_recall(fake, real, k=1) == pytest.approx({"precision": 1.0, "recall": 2 / 3})


@pytest.mark.parametrize("k,chunk", [(1, 7), (3, 2048), (5, 16)])
def test_against_brute_force(k: int, chunk: int) -> None:
    """Loops over every pair, in plain Python, on random features of unequal set sizes."""
    g = torch.Generator().manual_seed(k)
    real, fake = torch.randn(40, 5, generator=g), 0.7 * torch.randn(33, 5, generator=g) + 0.5

    def radii(x):
        return [sorted(float((a - b).norm()) for b in x)[k] for a in x]  # [0] is the point itself

    rr, rf = radii(real), radii(fake)
    prec = sum(any(float((f - r).norm()) <= rr[i] for i, r in enumerate(real)) for f in fake) / len(fake)
    rec = sum(any(float((r - f).norm()) <= rf[j] for j, f in enumerate(fake)) for r in real) / len(real)
    assert precision_recall(real, fake, k, chunk) == pytest.approx({"precision": prec, "recall": rec}, abs=1e-12)


def test_controls_same_set_collapsed_and_far() -> None:
    """The same distribution scores high on both (0.85 and 0.86 here); a sampler that draws one mode keeps its
    precision and loses its recall; samples far from every real point score zero precision."""
    g = torch.Generator().manual_seed(0)
    modes = torch.eye(8) * 10
    real = modes[torch.arange(800) % 8] + torch.randn(800, 8, generator=g)
    same = modes[torch.arange(800) % 8] + torch.randn(800, 8, generator=g)
    one_mode = modes[0] + torch.randn(800, 8, generator=g)
    far = torch.randn(800, 8, generator=g) + 100
    pr = precision_recall(real, same)  # 100 points per mode in 8-d: the k-NN balls cover most, not all, of each
    assert pr["precision"] > 0.8 and pr["recall"] > 0.8
    pr = precision_recall(real, one_mode)
    assert pr["precision"] > 0.8 and pr["recall"] < 0.2  # 1/8 of the real points are in the one mode
    assert precision_recall(real, far)["precision"] == 0.0


def test_bad_shapes_and_k_are_refused() -> None:
    with pytest.raises(CompanionError, match="one D"):
        precision_recall(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(CompanionError, match="k must be"):
        knn_radii(torch.zeros(3, 2), 3)


def test_classifier_features_are_the_fid_features() -> None:
    """The same 128-d features as the book's FID (torchmetrics' extractor on [0, 1] images), uint8 or float."""
    from companion.metrics import _ClassifierFeatures
    from companion.models import DigitClassifier

    torch.manual_seed(0)
    clf = DigitClassifier().eval()
    images = torch.randint(0, 256, (7, 1, 28, 28), dtype=torch.uint8)
    want = _ClassifierFeatures(clf)(images.float() / 255)
    for given in (images, images.float() / 255):
        got = classifier_features(clf, given, batch=3)
        assert got.shape == (7, 128) and torch.allclose(got, want, atol=1e-6)
