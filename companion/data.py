"""Datasets as in-memory uint8 tensors, batched by indexing.

MNIST-size sets are small (60,000 x 784 bytes = 47 MB), so the book keeps them
as one ``uint8`` tensor (on the GPU when there is one) and cuts batches by
indexing with a random permutation: no per-sample PIL decoding, no worker
processes, no host round trip per step. Images are ``(N, C, H, W)`` uint8; a
batch is float in [0, 1].

Where data comes from, in order: ``data_dir`` (``--data-dir``), else the
``COMPANION_DATA`` environment variable, else a per-user cache folder
(``$XDG_CACHE_HOME/companion/data``, usually ``~/.cache/companion/data``).
Missing files are downloaded the usual torchvision way; when that is impossible
(offline, or Google Drive's CelebA quota) a `companion.errors.DataError`
names the files to fetch and the folder to put them in.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from companion.errors import DataError
from companion.pixels import to_unit

__all__ = [
    "DATASETS",
    "FASHION_SYSTEM_DIR",
    "ImageSet",
    "load_celeba_folder",
    "load_dataset",
    "make_synthetic",
    "read_idx",
    "resolve_data_dir",
]

DATASETS = ("mnist", "fashion-mnist", "celeba", "synthetic")
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


# --8<-- [start:imageset]
@dataclass
class ImageSet:
    """A labelled image set held in memory.

    Attributes:
        images: (N, C, H, W) uint8 tensor, on the device that will train on it.
        labels: (N,) int64 class labels, or None for unlabelled sets (CelebA).
        name: Dataset name, e.g. ``"mnist"``.
    """

    images: Tensor
    labels: Tensor | None
    name: str

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device: torch.device | str) -> ImageSet:
        labels = None if self.labels is None else self.labels.to(device)
        return ImageSet(self.images.to(device), labels, self.name)

    def float_images(self, index: Tensor | slice | None = None) -> Tensor:
        """Images (or a subset) as float in [0, 1]."""
        x = self.images if index is None else self.images[index]
        return to_unit(x)

    def batches(
        self, batch_size: int, generator: torch.Generator, *, labels: bool = False, shard: tuple[int, int] = (0, 1)
    ) -> Iterator[Tensor] | Iterator[tuple[Tensor, Tensor]]:
        """One epoch of shuffled batches, float in [0, 1], last partial batch dropped.

        The permutation is drawn on the CPU from ``generator`` (so a saved
        generator state replays the same epoch on any device) and moved once.

        Args:
            batch_size: Images per batch.
            generator: The data-order RNG; one permutation is drawn from it per call.
            labels: Yield ``(images, labels)`` pairs instead of images.
            shard: ``(rank, world)``: yield only every ``world``-th batch starting at ``rank``
                (each process of a distributed run sees a disjoint share of the same permutation).
        """
        rank, world = shard
        n = len(self) - len(self) % (batch_size * world)
        perm = torch.randperm(len(self), generator=generator)[:n].to(self.images.device, non_blocking=True)
        for idx in perm.view(-1, world, batch_size)[:, rank]:
            x = to_unit(self.images[idx])
            if labels:
                if self.labels is None:
                    raise DataError(f"dataset '{self.name}' has no labels")
                yield x, self.labels[idx]
            else:
                yield x

    # --8<-- [end:imageset]

    def subset(self, n: int) -> ImageSet:
        """The first ``n`` images (0 or n >= len: all of them)."""
        if n <= 0 or n >= len(self):
            return self
        return ImageSet(self.images[:n], None if self.labels is None else self.labels[:n], self.name)

    def resized(self, size: int) -> ImageSet:
        """A copy resized to ``size`` x ``size`` (bilinear, antialiased), still uint8."""
        if self.shape[1:] == (size, size):
            return self
        out = []
        for chunk in self.images.split(4096):
            x = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            out.append(x.round_().clamp_(0, 255).to(torch.uint8))
        return ImageSet(torch.cat(out), self.labels, self.name)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the argument, else ``$COMPANION_DATA``, else the user cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("COMPANION_DATA"):
        return Path(os.environ["COMPANION_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "companion" / "data"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzipped, as a uint8 array.

    Raises:
        DataError: if the file is truncated or not an unsigned-byte IDX file.
    """
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (corrupt or wrong file?)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: expected {int(np.prod(dims))} bytes of data, found {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _find_idx(folders: list[Path], stem: str) -> Path | None:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _load_idx_set(name: str, split: str, root: Path, download: bool) -> ImageSet:
    tv_name = "MNIST" if name == "mnist" else "FashionMNIST"
    folders = [root / tv_name / "raw", root / tv_name, root]
    if name == "fashion-mnist":
        folders.append(FASHION_SYSTEM_DIR)
    img_stem, lab_stem = _IDX_FILES[split]
    paths = [_find_idx(folders, img_stem), _find_idx(folders, lab_stem)]
    if None in paths and download:
        _torchvision_download(tv_name, root)
        paths = [_find_idx(folders, img_stem), _find_idx(folders, lab_stem)]
    if None in paths:
        hint = " (or: apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
        raise DataError(
            f"{name} not found and could not be downloaded: put {img_stem}.gz and {lab_stem}.gz "
            f"(the {split} files) in {root / tv_name / 'raw'}{hint}"
        )
    images, labels = (read_idx(p) for p in paths)  # type: ignore[arg-type]
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{paths[0]} and {paths[1]} do not match: {images.shape} images, {labels.shape} labels")
    return ImageSet(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)), name)


def _torchvision_download(tv_name: str, root: Path) -> None:
    import torchvision

    try:
        getattr(torchvision.datasets, tv_name)(str(root), train=True, download=True)
    except Exception:
        return


# --8<-- [start:celeba]
def _celeba_transform(path_or_file, name: str, size: int) -> np.ndarray:
    """CelebA's aligned face -> centre crop 178x178 -> resize to size x size, RGB uint8 (H, W, 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path_or_file) as img:
            img = img.convert("RGB")
            w, h = img.size
            side = min(178, w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot decode image {name}: {exc}") from None


def load_celeba_folder(source: Path, size: int = 64, progress: bool = False) -> Tensor:
    """Decode every image in a folder or a zip (CelebA's ``img_align_celeba``).

    Args:
        source: A folder of .jpg/.png files, or ``img_align_celeba.zip``.
        size: Output side length.

    Returns:
        (N, 3, size, size) uint8 tensor, files in sorted name order.
    """
    from tqdm.auto import tqdm

    arrays = []
    if source.suffix == ".zip":
        try:
            zf = zipfile.ZipFile(source)
        except zipfile.BadZipFile:
            raise DataError(
                f"{source} is not a zip file (a Google Drive quota page saved instead of the data?); "
                "delete it and fetch img_align_celeba.zip by hand"
            ) from None
        with zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(_IMAGE_SUFFIXES))
            for n in tqdm(names, desc="decoding CelebA", disable=not progress):
                with zf.open(n) as f:
                    arrays.append(_celeba_transform(f, n, size))
    else:
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        for p in tqdm(files, desc="decoding CelebA", disable=not progress):
            arrays.append(_celeba_transform(p, p.name, size))
    if not arrays:
        raise DataError(f"no images (.jpg/.png) in {source}")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


# --8<-- [end:celeba]


def _celeba_split_mask(folder: Path, n: int, split: str) -> Tensor | None:
    """CelebA's official partition (0 train, 1 valid, 2 test), if the file is there."""
    part = folder / "list_eval_partition.txt"
    if not part.is_file():
        return None
    codes = [int(line.split()[1]) for line in part.read_text().splitlines() if line.strip()]
    if len(codes) != n:
        return None
    codes_t = torch.tensor(codes)
    return codes_t == 0 if split == "train" else codes_t == 2


def _load_celeba(split: str, root: Path, download: bool, progress: bool) -> ImageSet:
    folder = root / "celeba"
    candidates = [folder / "img_align_celeba", folder / "img_align_celeba.zip", root / "img_align_celeba.zip"]
    source = next((c for c in candidates if c.exists()), None)
    if source is None and any(p.suffix.lower() in _IMAGE_SUFFIXES for p in root.glob("*")):
        source = root  # a plain folder of face images
    if source is None and download:
        import torchvision

        try:
            torchvision.datasets.CelebA(str(root), split="all", target_type=[], download=True)
        except Exception:
            pass
        source = next((c for c in candidates if c.exists()), None)
    if source is None:
        raise DataError(
            "CelebA not found and could not be downloaded (Google Drive often refuses with a quota error): "
            f"fetch img_align_celeba.zip and list_eval_partition.txt from the CelebA site and put them in {folder}"
        )
    cache = folder / "celeba64_uint8.pt"
    if source != root and cache.is_file():
        images = torch.load(cache, weights_only=True)
    else:
        images = load_celeba_folder(source, 64, progress)
        if source != root:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            torch.save(images, tmp)
            tmp.replace(cache)
    mask = _celeba_split_mask(folder, images.shape[0], split)
    if mask is not None:
        images = images[mask]
    return ImageSet(images, None, "celeba")


def make_synthetic(n: int = 1024, size: int = 28, channels: int = 1, seed: int = 0) -> ImageSet:
    """Tiny generated images for smoke tests and dry runs: one oriented bar per class.

    Class k in 0..9 is a bright bar through the centre at angle 18k degrees, with a
    random shift, width and brightness, on a dark background. Easy for a GAN to
    learn in a few hundred steps, and labelled, so classifier-based metrics work.

    Returns:
        ImageSet with images (n, channels, size, size) uint8 and labels (n,).
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    theta = labels.float() * (torch.pi / 10)
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    shift = (torch.rand(n, 2, generator=g) - 0.5) * 0.3
    width = 0.12 + 0.06 * torch.rand(n, generator=g)
    bright = 0.7 + 0.3 * torch.rand(n, generator=g)
    # Distance of each pixel to the bar's centre line, then a soft bar profile.
    dist = (
        (xx - shift[:, 0, None, None]) * torch.sin(theta)[:, None, None]
        - (yy - shift[:, 1, None, None]) * torch.cos(theta)[:, None, None]
    ).abs()
    along = (
        (xx - shift[:, 0, None, None]) * torch.cos(theta)[:, None, None]
        + (yy - shift[:, 1, None, None]) * torch.sin(theta)[:, None, None]
    ).abs()
    img = bright[:, None, None] * torch.sigmoid((width[:, None, None] - dist) * 30) * (along < 0.7)
    img = img.unsqueeze(1).expand(n, channels, size, size)
    if channels > 1:  # tint colour images per class so channels differ
        tint = 0.5 + 0.5 * torch.rand(10, channels, generator=g)
        img = img * tint[labels][:, :, None, None]
    return ImageSet((img * 255).round().clamp(0, 255).to(torch.uint8).contiguous(), labels, "synthetic")


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool = False,
) -> ImageSet:
    """Load a dataset into memory (on the CPU; move it with ``.to(device)``).

    Args:
        name: ``mnist``, ``fashion-mnist``, ``celeba`` or ``synthetic``.
        split: ``train`` or ``test``.
        data_dir: Data folder (see the module docstring for the fallbacks).
        download: Try torchvision's download when files are missing.
        progress: Show a progress bar while decoding CelebA.

    Returns:
        ImageSet: MNIST/Fashion-MNIST (N, 1, 28, 28); CelebA (N, 3, 64, 64); synthetic (N, 1, 28, 28).

    Raises:
        DataError: unknown name, missing or corrupt files that cannot be downloaded.
    """
    # COMPANION_OFFLINE=1 never tries the network (tests, air-gapped machines).
    download = download and not os.environ.get("COMPANION_OFFLINE")
    if split not in _IDX_FILES:
        raise DataError(f"unknown split '{split}'; choose train or test")
    if name == "synthetic":
        return make_synthetic(1024 if split == "train" else 256, seed=0 if split == "train" else 1)
    root = resolve_data_dir(data_dir)
    if name in ("mnist", "fashion-mnist"):
        return _load_idx_set(name, split, root, download)
    if name == "celeba":
        return _load_celeba(split, root, download, progress)
    raise DataError(f"unknown dataset '{name}'; choose from {', '.join(DATASETS)}")
