"""What a likelihood ranks: AUROC by hand and brute force, PNG code lengths, the corrected score, the baseline."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from companion.ood import auroc, complexity_corrected, png_bits


def _auroc_brute(a: list[float], b: list[float]) -> float:
    pairs = list(itertools.product(a, b))
    return sum((y > x) + 0.5 * (y == x) for x, y in pairs) / len(pairs)


@pytest.mark.parametrize(
    "inside,outside,expected",
    [
        ([1, 2, 3], [4, 5], 1.0),  # every OOD image scores higher: perfect
        ([4, 5], [1, 2, 3], 0.0),  # every OOD image scores lower: perfectly wrong (the Fashion-MNIST surprise)
        ([1, 2], [1, 2], 0.5),  # the same scores: chance, ties count half
        ([1, 3], [2], 0.5),
        ([1, 1, 2], [1, 3], (0.5 + 0.5 + 0 + 3) / 6),  # 1 ties two 1s and loses to 2; 3 beats all three
    ],
)
def test_auroc_by_hand(inside, outside, expected) -> None:
    assert auroc(
        torch.tensor(inside, dtype=torch.float64), torch.tensor(outside, dtype=torch.float64)
    ) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(4))
def test_auroc_against_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 6, 17).astype(float), rng.integers(0, 6, 11).astype(float)  # many ties
    assert auroc(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(_auroc_brute(a.tolist(), b.tolist()))


def test_png_bits_is_the_size_of_the_png_file() -> None:
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x[1] = 0  # a black image compresses to almost nothing
    bits = png_bits(x)
    for i in range(3):
        buf = io.BytesIO()
        Image.fromarray(x[i, 0].numpy()).save(buf, format="PNG", compress_level=9)
        assert bits[i] == 8 * len(buf.getvalue())
    assert bits[1] < bits[0] / 5
    assert torch.equal(png_bits(x.float() / 255), bits)  # floats in [0, 1] are the same images


def test_complexity_corrected_subtracts_png_bits_per_dimension() -> None:
    x = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    bpd = torch.tensor([1.5, 2.5], dtype=torch.float64)
    assert torch.allclose(complexity_corrected(bpd, x), bpd - png_bits(x) / 784)


def test_histogram_baseline_by_hand() -> None:
    """Two pixels, counts with add-one smoothing: -log2 of the product of the per-pixel probabilities, per pixel."""
    from companion.chapters.glow import histogram_bpd

    train = torch.tensor([[0, 5], [0, 5], [0, 7]], dtype=torch.uint8).view(3, 1, 1, 2)
    test = torch.tensor([[0, 7]], dtype=torch.uint8).view(1, 1, 1, 2)
    p0 = (3 + 1) / (3 + 256)  # pixel 0 is 0 in all three training images
    p1 = (1 + 1) / (3 + 256)  # pixel 1 is 7 once
    assert histogram_bpd(train, test) == pytest.approx(-(np.log2(p0) + np.log2(p1)) / 2)
