"""Datasets: in-memory uint8, the folder fallbacks, CelebA's layouts, clear errors."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from companion.data import ImageSet, load_celeba_folder, load_dataset, make_synthetic, read_idx, resolve_data_dir
from companion.errors import DataError


def test_synthetic_is_deterministic_uint8_and_labelled() -> None:
    a, b = make_synthetic(64, seed=3), make_synthetic(64, seed=3)
    assert a.images.dtype == torch.uint8 and a.images.shape == (64, 1, 28, 28)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.float().std() > 10  # not blank


def test_synthetic_colour_variant() -> None:
    s = make_synthetic(8, size=64, channels=3)
    assert s.images.shape == (8, 3, 64, 64)


def test_batches_are_a_permutation_in_unit_range() -> None:
    s = ImageSet(torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous(), None, "t")
    batches = list(s.batches(3, torch.Generator().manual_seed(0)))
    assert len(batches) == 3 and all(b.shape == (3, 1, 2, 2) and b.dtype == torch.float32 for b in batches)
    seen = torch.cat([b[:, 0, 0, 0] for b in batches]) * 255
    assert len(set(seen.round().tolist())) == 9  # no repeats; the 10th image is the dropped remainder


def test_batches_replay_from_a_generator_state() -> None:
    s = make_synthetic(64)
    g = torch.Generator().manual_seed(1)
    state = g.get_state()
    first = [b.clone() for b in s.batches(16, g)]
    g.set_state(state)
    again = list(s.batches(16, g))
    assert all(torch.equal(x, y) for x, y in zip(first, again))


def test_resized_keeps_uint8() -> None:
    s = make_synthetic(4).resized(64)
    assert s.images.shape == (4, 1, 64, 64) and s.images.dtype == torch.uint8


def test_data_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("COMPANION_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir(None) == tmp_path / "cache" / "companion" / "data"


def _write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    p = tmp_path / ("x.gz" if gz else "x")
    _write_idx(p, arr, gz)
    assert np.array_equal(read_idx(p), arr)


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path: Path) -> None:
    arr = np.zeros((5, 28, 28), np.uint8)
    p = tmp_path / "t"
    _write_idx(p, arr, False)
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(p)
    p.write_bytes(b"<html>quota exceeded</html>")
    with pytest.raises(DataError, match="not an unsigned-byte IDX"):
        read_idx(p)


def test_mnist_from_a_folder_in_torchvision_layout(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.random.default_rng(0).integers(0, 256, (7, 28, 28))
    _write_idx(raw / "t10k-images-idx3-ubyte.gz", imgs, True)
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(7) % 10, False)
    s = load_dataset("mnist", "test", tmp_path)
    assert s.images.shape == (7, 1, 28, 28) and s.labels.tolist() == list(range(7))


def test_missing_mnist_offline_names_files_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "train", tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path / "MNIST" / "raw") in msg and "\n" not in msg


def test_real_mnist(real_mnist_dir: Path) -> None:
    s = load_dataset("mnist", "train", real_mnist_dir)
    assert s.images.shape == (60000, 1, 28, 28) and s.images.dtype == torch.uint8
    assert s.images.float().mean().item() == pytest.approx(33.32, abs=0.01)
    assert torch.bincount(s.labels).tolist()[:3] == [5923, 6742, 5958]


def test_fashion_mnist_from_the_debian_package(tmp_path: Path) -> None:
    if not Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("dataset-fashion-mnist not installed")
    s = load_dataset("fashion-mnist", "test", tmp_path)
    assert s.images.shape == (10000, 1, 28, 28) and int(s.labels.max()) == 9


def _faces(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(folder / f"{i + 1:06d}.jpg")


def test_celeba_in_torchvision_layout_with_partition(tmp_path: Path) -> None:
    _faces(tmp_path / "celeba" / "img_align_celeba", 5)
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate([0, 0, 0, 1, 2]))
    )
    train = load_dataset("celeba", "train", tmp_path)
    assert train.images.shape == (3, 3, 64, 64) and train.images.dtype == torch.uint8 and train.labels is None
    assert (tmp_path / "celeba" / "celeba64_uint8.pt").is_file()  # decoded once, cached
    assert load_dataset("celeba", "test", tmp_path).images.shape == (1, 3, 64, 64)


def test_celeba_crop_is_the_centre_178_square(tmp_path: Path) -> None:
    img = np.zeros((218, 178, 3), np.uint8)
    img[20:198] = 255  # only the centre 178x178 square is white
    folder = tmp_path / "faces"
    folder.mkdir()
    Image.fromarray(img).save(folder / "a.png")
    out = load_celeba_folder(folder)
    assert out.shape == (1, 3, 64, 64) and int(out.min()) == 255


def test_celeba_from_zip_and_plain_folder(tmp_path: Path) -> None:
    _faces(tmp_path / "src", 3)
    (tmp_path / "z" / "celeba").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "z" / "celeba" / "img_align_celeba.zip", "w") as zf:
        for p in sorted((tmp_path / "src").iterdir()):
            zf.write(p, f"img_align_celeba/{p.name}")
    assert load_dataset("celeba", "train", tmp_path / "z").images.shape == (3, 3, 64, 64)
    assert load_dataset("celeba", "train", tmp_path / "src").images.shape == (3, 3, 64, 64)


def test_celeba_quota_page_saved_as_zip_is_explained(tmp_path: Path) -> None:
    (tmp_path / "celeba").mkdir()
    (tmp_path / "celeba" / "img_align_celeba.zip").write_text("<html>Google Drive - Quota exceeded</html>")
    with pytest.raises(DataError, match="not a zip file"):
        load_dataset("celeba", "train", tmp_path)


def test_missing_celeba_says_what_to_fetch_and_where(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("celeba", "train", tmp_path)
    assert "img_align_celeba.zip" in str(err.value) and str(tmp_path / "celeba") in str(err.value)


def test_unknown_dataset() -> None:
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
