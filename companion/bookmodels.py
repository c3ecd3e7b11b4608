r"""The book's trained models, shipped in the repository: ``book:NAME`` wherever a checkpoint is taken.

Every number in the book comes from a model trained once; these are those models, so that a
reader can sample, invert, restore and score without repeating hours of training. Each one is
two files in ``companion/book/``:

* ``NAME.safetensors``: the weights, and nothing else. safetensors is a header of names, dtypes
  and shapes followed by raw bytes; reading it runs no code (unlike a pickle), so a shipped file
  cannot do anything but fail its digest.
* ``NAME.json``, the manifest: the checkpoint entries that are not tensors (its ``format``, the
  architecture, the training settings), the file's SHA-256, where the model came from (the
  command, the commit, the machine, the training time) and its headline numbers, measured when it
  was packed (`companion.bookpack`), with the values of a small re-check that the test suite
  repeats (``checks``).

`load_book` rebuilds from the two files exactly the dictionary that the training command's
``ckpt.pt`` held for the entries a user needs (weights, architecture, settings; not the optimiser
or the random states), so every loader of the package (`companion.checkpoint.load_checkpoint`)
takes ``book:NAME`` in place of a path. A missing file, an unknown name, or a file whose bytes
do not match the manifest's digest is a one-line `CheckpointError`.

The registry `BOOK` is the one table of names: what each model is, and which command trains its
run folder again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from companion.errors import CheckpointError

__all__ = [
    "BOOK",
    "BOOK_DIR",
    "PREFIX",
    "BookEntry",
    "book_files",
    "book_name",
    "file_digest",
    "flatten",
    "is_book_ref",
    "load_book",
    "load_book_checks",
    "manifest",
    "shipped",
    "unflatten",
]

PREFIX = "book:"
#: Where the shipped files live: the package's own folder (``COMPANION_BOOK_DIR`` points elsewhere, for tests
#: and for a copy kept outside the package; the digests are checked wherever the files are).
BOOK_DIR = Path(__file__).resolve().parent / "book"
#: Separates nesting levels in the flat tensor names of a safetensors file (state-dict keys use dots).
SEP = "/"
#: Tensors under this top-level name are the manifest's re-check data, not checkpoint entries.
CHECK = "check"
#: The manifest's own format tag.
MANIFEST_FORMAT = "companion-book-model/1"


@dataclass(frozen=True)
class BookEntry:
    """One shipped model.

    Attributes:
        about: One line: what it is.
        run: The run folder (relative to the repository) whose ``ckpt.pt`` it was packed from.
        retrain: The command that trains that run folder again.
    """

    about: str
    run: str
    retrain: str


#: Every model the book ships, by name (``book:NAME``).
BOOK: dict[str, BookEntry] = {
    "classifier-mnist": BookEntry(
        "the MNIST classifier behind FID, classes covered and the digit checks (the book's features)",
        "runs/classifiers/mnist",
        "companion classifier train --out runs/classifiers/mnist/ckpt.pt",
    ),
    "gan-minimax": BookEntry(
        "chapter 1: the report's DCGAN, minimax loss, seed 0, 20 epochs",
        "runs/gan_losses/full/minimax/seed0",
        "python -m companion.chapters.gan_losses --preset full",
    ),
    "gan-nonsaturating": BookEntry(
        "chapter 1: the report's DCGAN, non-saturating loss, seed 0, 20 epochs (chapters 2, 3, 5 and the web figures)",
        "runs/gan_losses/full/nonsaturating/seed0",
        "python -m companion.chapters.gan_losses --preset full",
    ),
    "gan-lsgan": BookEntry(
        "chapter 1: the report's DCGAN, least squares (LSGAN), seed 0, 20 epochs",
        "runs/gan_losses/full/lsgan/seed0",
        "python -m companion.chapters.gan_losses --preset full",
    ),
    "gan-better": BookEntry(
        "chapter 4: the report's DCGAN with hinge loss and an EMA of G (preset better), seed 0, 20 epochs",
        "runs/stabilisers/full/better_the_combination/seed0",
        "python -m companion.chapters.stabilisers",
    ),
    "encoder": BookEntry(
        "chapter 2: the encoder E: x -> z trained against book:gan-nonsaturating, 10 epochs",
        "runs/inversion/main/encoder_f666759e740723c1",
        "companion encoder train --generator book:gan-nonsaturating --out runs/inversion/main/encoder_f666759e740723c1",
    ),
    "glo": BookEntry(
        "chapter 5: GLO on the report's generator, with its fitted samplers "
        "(a mixture of Gaussians, IMLE, one Gaussian; no training codes)",
        "runs/glo/book/seed0",
        "python -m companion.chapters.glo",
    ),
    "glow-mnist": BookEntry(
        "Part II: a Glow on the 60,000 MNIST training digits, 20 epochs",
        "runs/glow/book/mnist",
        "python -m companion.chapters.glow",
    ),
    "glow-fashion": BookEntry(
        "Part II: a Glow on the 60,000 Fashion-MNIST training images, 10 epochs (for the likelihood's surprise)",
        "runs/glow/book/fashion-mnist",
        "python -m companion.chapters.glow",
    ),
}


def is_book_ref(path: str | os.PathLike[str] | None) -> bool:
    """True for ``book:NAME`` (also when it came through ``pathlib.Path``, which keeps it as is)."""
    return path is not None and str(path).startswith(PREFIX)


def book_name(ref: str | os.PathLike[str]) -> str:
    """The NAME of ``book:NAME``, checked against the registry."""
    name = str(ref)[len(PREFIX) :]
    if name not in BOOK:
        raise CheckpointError(f"unknown book model '{name}'; the book ships: {', '.join(BOOK)} (companion models list)")
    return name


def book_files(name: str, folder: Path | None = None) -> tuple[Path, Path]:
    """(weights, manifest) paths of a shipped model."""
    if folder is None:
        folder = Path(os.environ.get("COMPANION_BOOK_DIR") or BOOK_DIR)
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def shipped(name: str) -> bool:
    """True when both files of ``book:NAME`` are in this copy (they are checked when loaded, not here)."""
    return all(p.is_file() for p in book_files(name))


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(name: str, folder: Path | None = None) -> dict[str, Any]:
    """A shipped model's manifest (the JSON file), checked for its format tag."""
    _, meta = book_files(name, folder)
    if not meta.is_file():
        raise CheckpointError(f"book:{name} is not in this copy of the book ({meta} is missing)")
    try:
        man = json.loads(meta.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{meta} is not a readable manifest: {exc}") from None
    if not isinstance(man, dict) or man.get("manifest") != MANIFEST_FORMAT:
        raise CheckpointError(f"{meta} is not a book model manifest")
    return man


def flatten(tree: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a nested dict into (flat tensors by ``a/b/c`` name, the rest with the tensors left out).

    Empty dicts survive in the rest, so `unflatten` gives back the same structure.
    """
    import torch

    tensors: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in tree.items():
        if not isinstance(key, str) or SEP in key:
            raise ValueError(f"cannot ship the entry {key!r}: names must be strings without '{SEP}'")
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            tensors[name] = value
        elif isinstance(value, dict):
            sub_t, sub_r = flatten(value, name + SEP)
            tensors.update(sub_t)
            if sub_r or not sub_t:
                rest[key] = sub_r
        else:
            rest[key] = value
    return tensors, rest


def unflatten(tensors: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `flatten`: the plain entries with every ``a/b/c`` tensor put back in place."""
    out = json.loads(json.dumps(rest))  # a deep copy: the caller may change what it gets
    for name, value in tensors.items():
        node = out
        *parents, leaf = name.split(SEP)
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _read_verified(name: str, folder: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    man = manifest(name, folder)
    weights, _ = book_files(name, folder)
    if not weights.is_file():
        raise CheckpointError(f"book:{name} is not in this copy of the book ({weights} is missing)")
    if file_digest(weights) != man.get("sha256"):
        raise CheckpointError(
            f"book:{name} fails its integrity check: {weights.name} does not match the digest in its manifest"
        )
    try:
        tensors = load_file(weights)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is not a readable safetensors file: {exc}") from None
    return man, tensors


def load_book(ref: str | os.PathLike[str], folder: Path | None = None) -> dict[str, Any]:
    """The checkpoint dictionary of ``book:NAME``, rebuilt from its two files (weights as float32).

    Raises:
        CheckpointError: an unknown name, a missing file, a digest mismatch or an unreadable file.
    """
    import torch

    name = book_name(ref)
    man, tensors = _read_verified(name, folder)
    entries = {k: v for k, v in tensors.items() if not k.startswith(CHECK + SEP)}
    # Weights shipped in float16 come back as float32, the dtype every model of the package computes in;
    # float64 (a fitted covariance) stays float64.
    entries = {k: v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for k, v in entries.items()}
    return unflatten(entries, man["entries"])


def load_book_checks(ref: str | os.PathLike[str], folder: Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the manifest's ``checks`` values, the check tensors stored beside the weights) of ``book:NAME``."""
    name = book_name(ref)
    man, tensors = _read_verified(name, folder)
    data = {k[len(CHECK + SEP) :]: v for k, v in tensors.items() if k.startswith(CHECK + SEP)}
    return man.get("checks", {}), data
