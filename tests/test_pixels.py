"""The one image convention (companion.pixels) and the image files written and read through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from companion.imageio import read_images, write_npy
from companion.observed import read_named, write_like
from companion.pixels import to_uint8, to_unit

SHAPES = [(1, 1, 1, 1), (3, 1, 28, 28), (2, 3, 5, 7)]


def _uint8(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)


def _float(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    x.view(-1)[0] = 0.0  # both ends of the range are present
    x.view(-1)[-1] = 1.0
    return x


def test_conversions_by_hand() -> None:
    u = torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8)
    assert to_unit(u).tolist() == pytest.approx([0, 1 / 255, 127 / 255, 128 / 255, 1.0])
    assert to_unit(u).dtype == torch.float32
    # round(255 * clamp(x, 0, 1)): below 0 and above 1 are clipped; halves round to even as torch does.
    x = torch.tensor([-0.3, 0.0, 0.5 / 255, 1.6 / 255, 0.5, 1.0, 1.7])
    assert to_uint8(x).tolist() == [0, 0, 0, 2, 128, 255, 255]


def test_uint8_is_never_scaled_twice() -> None:
    """The bug behind issue 20: uint8 images multiplied by 255 again came out black and white."""
    u = torch.tensor([0, 3, 30, 100, 254], dtype=torch.uint8)
    assert to_uint8(u) is u  # passed through, untouched
    assert torch.equal(to_uint8(to_uint8(u)), u)
    assert torch.equal(to_uint8(to_unit(u)), u)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_other_dtypes_are_refused(dtype: torch.dtype) -> None:
    with pytest.raises(TypeError, match=r"uint8 .* or floating point"):
        to_uint8(torch.zeros(2, dtype=dtype))
    with pytest.raises(TypeError, match=r"uint8 .* or floating point"):
        to_unit(torch.zeros(2, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_every_float_dtype_quantises_the_same_way(dtype: torch.dtype) -> None:
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert to_uint8(x.to(dtype)).tolist() == [0, 64, 128, 255]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_npy_round_trip(tmp_path: Path, shape: tuple[int, ...], seed: int) -> None:
    u = _uint8(shape, seed)
    write_npy(u, tmp_path / "u.npy")
    back = read_images(tmp_path / "u.npy")
    assert back.dtype == torch.uint8 and torch.equal(back, u)  # uint8: exactly

    x = _float(shape, seed)
    write_npy(x, tmp_path / "x.npy")
    back = to_unit(read_images(tmp_path / "x.npy"))
    assert (back - x).abs().max() <= 0.5 / 255 + 1e-7  # float: within half a grey level
    assert back.shape == x.shape


@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 5, 7)])
@pytest.mark.parametrize("seed", [0, 1])
def test_png_round_trip(tmp_path: Path, shape: tuple[int, ...], seed: int) -> None:
    names = [f"{i:02d}.png" for i in range(shape[0])]
    u = _uint8(shape, seed)
    write_like(u, tmp_path / "u", names)
    back, read_names = read_named(tmp_path / "u")  # the restore command's reader: float in [0, 1]
    assert read_names == names
    assert torch.equal(to_uint8(back), u)
    assert torch.equal(read_images(tmp_path / "u"), u)  # the invert command's reader: uint8 as stored

    x = _float(shape, seed)
    write_like(x, tmp_path / "x", names)
    back, _ = read_named(tmp_path / "x")
    assert (back - x).abs().max() <= 0.5 / 255 + 1e-7


def test_a_0_to_255_image_stored_as_float_is_refused(tmp_path: Path) -> None:
    """Never scaled, never silently taken as intensities up to 255: one clear error."""
    from companion.errors import DataError

    u = _uint8((2, 1, 28, 28), 0)
    np.save(tmp_path / "f.npy", u.numpy().astype(np.float32))
    with pytest.raises(DataError, match=r"whole numbers up to 255 as floats, a 0\.\.255 image"):
        read_named(tmp_path / "f.npy")
    # Control: the same values as uint8, and a noisy float observation above 1, are read.
    np.save(tmp_path / "u.npy", u.numpy())
    assert torch.equal(to_uint8(read_named(tmp_path / "u.npy")[0]), u)
    noisy = to_unit(u) + 0.3 * torch.randn(u.shape, generator=torch.Generator().manual_seed(0))
    np.save(tmp_path / "n.npy", noisy.numpy())
    assert float(read_named(tmp_path / "n.npy")[0].max()) > 1
