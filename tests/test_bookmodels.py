"""The book's shipped models (``book:NAME``): the file format, its integrity, and each model against its manifest.

The format tests pack tiny synthetic models into a temporary folder (``COMPANION_BOOK_DIR``); the
manifest tests re-measure every model that ships with the repository on a slice of the real test
sets, so a changed architecture, a retrained model without a new manifest, or a corrupted file fails
by name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from companion.bookmodels import BOOK, BOOK_DIR, book_files, flatten, is_book_ref, load_book, shipped, unflatten
from companion.bookpack import pack, verify
from companion.checkpoint import GAN_FORMAT, load_checkpoint, save_atomic
from companion.cli import main
from companion.errors import CheckpointError
from companion.experiment import generate, load_generator
from companion.models import ArchSpec, build_generator


@pytest.fixture
def tiny_gan(tmp_path: Path) -> Path:
    """A GAN checkpoint with the report's generator at random weights (what a run's ckpt.pt holds, and more)."""
    torch.manual_seed(3)
    spec = ArchSpec("report28", 1, 100)
    G = build_generator(spec)
    ck = {
        "format": GAN_FORMAT, "meta": {"arch": spec.to_dict(), "dataset": "synthetic"}, "config": {"loss": "hinge"},
        "epoch": 2, "generator": G.state_dict(), "discriminator": {"w": torch.ones(3)},
        "opt_g": {"state": {}}, "rng": {"data": torch.ByteTensor(8)}, "fixed_z": torch.randn(4, 100),
    }  # fmt: skip
    save_atomic(ck, tmp_path / "ckpt.pt")
    return tmp_path / "ckpt.pt"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "book"
    monkeypatch.setenv("COMPANION_BOOK_DIR", str(folder))
    return folder


def test_flatten_and_unflatten_are_inverse() -> None:
    tree = {
        "format": "x", "epoch": 3, "meta": {"arch": {"arch": "report28", "latent_dim": 100}, "empty": {}},
        "generator": {"main.0.weight": torch.randn(2, 3), "main.1.num_batches_tracked": torch.tensor(5)},
        "samplers": {"gaussian": {"mean": torch.randn(4, dtype=torch.float64)}, "default": "imle"},
    }  # fmt: skip
    tensors, rest = flatten(tree)
    names = ["generator/main.0.weight", "generator/main.1.num_batches_tracked", "samplers/gaussian/mean"]
    assert sorted(tensors) == names
    # A dict of tensors only leaves nothing behind (unflatten makes it again); an empty dict stays.
    assert rest == {"format": "x", "epoch": 3, "meta": {"arch": {"arch": "report28", "latent_dim": 100}, "empty": {}},
                    "samplers": {"default": "imle"}}  # fmt: skip
    back = unflatten(tensors, json.loads(json.dumps(rest)))
    assert back["meta"] == tree["meta"] and back["samplers"]["default"] == "imle"
    for k, v in tree["generator"].items():
        assert torch.equal(back["generator"][k], v)
    assert back["samplers"]["gaussian"]["mean"].dtype == torch.float64


def test_a_name_holding_the_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="without '/'"):
        flatten({"a/b": torch.zeros(1)})


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_packed_model_loads_as_its_checkpoint(tiny_gan: Path, store: Path, dtype: str) -> None:
    man = pack("gan-nonsaturating", tiny_gan, folder=store, dtype=dtype, measured=False, commit="abc1234")
    weights, meta = book_files("gan-nonsaturating", store)
    assert man["bytes"] == weights.stat().st_size and man["dtype"] == dtype
    # Only what a user needs ships: no discriminator, optimiser, RNG or fixed latents.
    from safetensors import safe_open

    assert set(man["entries"]) == {"format", "meta", "config", "epoch"}
    with safe_open(weights, "pt") as f:
        assert {k.split("/")[0] for k in f.keys()} == {"generator", "check"}
    original = load_checkpoint(tiny_gan, GAN_FORMAT)["generator"]
    shipped_ck = load_checkpoint("book:gan-nonsaturating", GAN_FORMAT, keys=("meta", "generator"))
    for k, v in original.items():
        want = v.half().float() if (dtype == "float16" and v.is_floating_point()) else v
        assert shipped_ck["generator"][k].dtype == v.dtype
        assert torch.equal(shipped_ck["generator"][k], want), k
    assert shipped_ck["epoch"] == 2 and shipped_ck["config"] == {"loss": "hinge"}
    assert json.loads(meta.read_text())["provenance"]["commit"] == "abc1234"


def test_loading_a_shipped_model_never_unpickles(tiny_gan: Path, store: Path, monkeypatch) -> None:
    pack("gan-nonsaturating", tiny_gan, folder=store, measured=False)

    def refuse(*a, **k):
        raise AssertionError("torch.load (a pickle) was called for a book model")

    monkeypatch.setattr(torch, "load", refuse)
    G, spec, _ = load_generator("book:gan-nonsaturating")
    assert spec.latent_dim == 100 and sum(p.numel() for p in G.parameters()) == 600512


def test_a_tampered_file_is_refused(tiny_gan: Path, store: Path, capsys) -> None:
    pack("gan-nonsaturating", tiny_gan, folder=store, measured=False)
    weights, _ = book_files("gan-nonsaturating", store)
    data = bytearray(weights.read_bytes())
    data[-5] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fails its integrity check"):
        load_book("book:gan-nonsaturating")
    rc = main(["sample", "--checkpoint", "book:gan-nonsaturating", "--n", "4", "--out", str(store / "s.npy")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "integrity" in err
    assert not (store / "s.npy").exists()


def test_unknown_and_missing_models_are_one_line(store: Path, capsys) -> None:
    assert is_book_ref(Path("book:glo")) and not is_book_ref(Path("runs/book:x"))
    assert main(["sample", "--checkpoint", "book:nonsense", "--out", str(store / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert "unknown book model 'nonsense'" in err and "gan-nonsaturating" in err and err.count("\n") == 1
    # the store fixture points at an empty folder: a registered model whose files are missing
    assert main(["sample", "--checkpoint", "book:gan-nonsaturating", "--out", str(store / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert "not in this copy of the book" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- the models the book ships


@pytest.mark.parametrize("name", list(BOOK))
def test_every_book_model_is_shipped(name: str) -> None:
    assert shipped(name), f"book:{name} is in the registry but its files are not in {BOOK_DIR}"


def test_the_book_models_stay_small() -> None:
    total = sum(p.stat().st_size for p in BOOK_DIR.glob("*.safetensors"))
    assert total < 30e6, f"the shipped models take {total / 1e6:.1f} MB (the README promises under 30)"


@pytest.mark.parametrize("name", list(BOOK))
def test_book_model_matches_its_manifest(name: str, real_mnist_dir: Path) -> None:
    from companion.bookmodels import manifest

    if manifest(name)["entries"].get("config", {}).get("dataset") == "fashion-mnist":
        from companion.data import FASHION_SYSTEM_DIR

        if not FASHION_SYSTEM_DIR.is_dir() and not (real_mnist_dir / "FashionMNIST").is_dir():
            pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    assert verify(name, real_mnist_dir) == []


def test_verify_names_a_model_whose_weights_changed(tmp_path: Path, real_mnist_dir: Path) -> None:
    """Negative control: weights changed (and the digest updated, as a careless repack would) fail by name."""
    from safetensors.torch import load_file, save_file

    from companion.bookmodels import file_digest

    for f in book_files("gan-nonsaturating"):
        shutil.copy(f, tmp_path / f.name)
    weights, meta = book_files("gan-nonsaturating", tmp_path)
    t = load_file(weights)
    key = next(k for k in t if k.endswith("weight") and t[k].ndim == 4)
    t[key] = t[key] * 1.05
    save_file(t, weights)
    man = json.loads(meta.read_text())
    man["sha256"] = file_digest(weights)
    meta.write_text(json.dumps(man))
    problems = verify("gan-nonsaturating", real_mnist_dir, folder=tmp_path)
    assert problems and all(p.startswith("book:gan-nonsaturating: ") for p in problems)


def test_sample_from_a_book_model_is_g_of_z_exactly(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.npy"
    assert main(["sample", "--checkpoint", "book:gan-nonsaturating", "--n", "64", "--seed", "3",
                 "--out", str(out), "--device", "cpu"]) == 0  # fmt: skip
    G, _, _ = load_generator("book:gan-nonsaturating")
    assert np.array_equal(np.load(out), generate(G, 64, 100, 3).numpy())
    assert "sampler normal" in capsys.readouterr().out


def test_sample_png_is_a_labelled_grid_of_the_same_samples(tmp_path: Path) -> None:
    from PIL import Image

    from companion.artifacts import image_grid

    assert main(["sample", "--checkpoint", "book:gan-nonsaturating", "--n", "16", "--seed", "1",
                 "--out", str(tmp_path / "g.png"), "--device", "cpu"]) == 0  # fmt: skip
    G, _, _ = load_generator("book:gan-nonsaturating")
    grid = image_grid(generate(G, 16, 100, 1), nrow=4)
    up = np.kron(grid, np.ones((2, 2), dtype=np.uint8))  # the grid is shown 2x, nearest neighbour
    img = np.asarray(Image.open(tmp_path / "g.png").convert("L"))
    # The caption sits above the grid: the grid is the bottom-left block, pixel for pixel.
    assert np.array_equal(img[-up.shape[0] :, : up.shape[1]], up)
    assert img[: img.shape[0] - up.shape[0]].min() < 128  # the caption's dark text is there


def test_models_list_prints_each_model_by_its_manifest(capsys) -> None:
    from companion.bookmodels import manifest

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in BOOK:
        man = manifest(name)
        assert f"book:{name}  {man['bytes'] / 1e6:.1f} MB {man['dtype']}  sha256 {man['sha256'][:16]}" in out
        assert man["provenance"]["command"] in out
    total = sum(manifest(n)["bytes"] for n in BOOK)
    assert out.rstrip().endswith(f"{total / 1e6:.1f} MB in all")


def test_the_readme_states_the_size_of_the_shipped_models() -> None:
    import re

    readme = (BOOK_DIR.parents[1] / "README.md").read_text()
    m = re.search(r"`companion/book/`, ([\d.]+) MB in all", readme)
    assert m, "the README no longer says how large the shipped models are"
    total = sum(p.stat().st_size for p in BOOK_DIR.glob("*.safetensors")) + sum(
        p.stat().st_size for p in BOOK_DIR.glob("*.json")
    )
    assert abs(float(m.group(1)) - total / 1e6) < 0.15, f"README says {m.group(1)} MB, the files take {total / 1e6:.2f}"


def test_the_books_table_of_models_is_the_commands_output(capsys) -> None:
    """docs/assets/models/models.md (included by the getting-started page) is what `models list --markdown` prints
    from the manifests: regenerate it after packing a model."""
    assert main(["models", "list", "--markdown"]) == 0
    page = (BOOK_DIR.parents[1] / "docs" / "assets" / "models" / "models.md").read_text()
    assert capsys.readouterr().out == page, "run: companion models list --markdown > docs/assets/models/models.md"
