"""Packing a trained run into the book's model store, and re-checking a shipped model (`companion.bookmodels`).

`pack` reads a run's ``ckpt.pt``, keeps the entries a user needs (`SHIPPED`), measures the
model's headline numbers on the held-out data (`measure`: FID over five sampling seeds, bits/dim
of the whole test set, PSNR, accuracy) and a small re-check (`quick_checks`: numbers on a slice
of the test set and a few exact outputs, cheap enough for every CI run), and writes
``NAME.safetensors`` and ``NAME.json`` atomically.

**float16 only where it provably changes nothing reported.** With ``dtype="auto"`` the weights
are rounded to float16, the headline numbers measured again with the rounded weights, and the
float16 file kept only when every number agrees with float32 to the precision the book prints
(`TOLERANCE`); otherwise the model ships in float32. Both measurements go into the manifest.

`verify` repeats `quick_checks` on a shipped model and compares with its manifest, naming the
first number that moved: ``companion models check`` and the test suite call it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from companion.bookmodels import BOOK, BOOK_DIR, CHECK, MANIFEST_FORMAT, SEP, book_files, file_digest, flatten
from companion.checkpoint import CLASSIFIER_FORMAT, ENCODER_FORMAT, GAN_FORMAT, GLO_FORMAT, load_checkpoint
from companion.errors import CheckpointError, CompanionError

__all__ = ["SHIPPED", "TOLERANCE", "measure", "pack", "quick_checks", "verify"]

FLOW_FORMAT = "companion-flow/1"  # companion.density's tag, spelled here so that packing needs no flow import

#: The checkpoint entries each kind of model ships (the optimiser, RNG states and GLO's 60,000 codes stay behind).
SHIPPED: dict[str, tuple[str, ...]] = {
    GAN_FORMAT: ("meta", "config", "epoch", "generator", "generator_ema"),
    ENCODER_FORMAT: ("config", "epoch", "generator_fingerprint", "latent_dim", "channels", "image_size", "encoder"),
    CLASSIFIER_FORMAT: ("dataset", "test_accuracy", "channels", "state"),
    GLO_FORMAT: ("meta", "config", "epoch", "generator", "samplers"),
    FLOW_FORMAT: ("spec", "config", "epoch", "flow"),
}

#: How far a float16 copy may move a headline number and still count as unchanged (half the last printed digit).
TOLERANCE = {"fid": 0.005, "bpd": 0.0005, "psnr": 0.005, "accuracy": 0.00005}

#: The sampling seeds of a GAN's or GLO's FID: the manifest states their mean and range.
FID_SEEDS = (0, 1, 2, 3, 4)
FID_SAMPLES = 10000


def _test_images(dataset: str, data_dir: str | os.PathLike[str] | None):
    from companion.data import load_dataset

    return load_dataset(dataset, "test", data_dir)


def _classifier(data_dir, device):
    from companion.metrics import get_classifier

    return get_classifier("mnist", data_dir, device, progress=False)


def _gan_like(ck: dict[str, Any], device) -> tuple[torch.nn.Module, int]:
    """The generator a GAN or GLO dictionary describes (its moving average when it has one)."""
    from companion.models import ArchSpec, build_generator

    spec = ArchSpec(**ck["meta"]["arch"])
    G = build_generator(spec)
    G.load_state_dict(ck["generator_ema"] if "generator_ema" in ck else ck["generator"])
    return G.to(device).eval(), spec.latent_dim


def _samplers(ck: dict[str, Any]) -> dict[str, Callable | None]:
    """The latent laws a model is sampled with: z ~ N(0, I) for a GAN; each fitted sampler for GLO."""
    if ck["format"] != GLO_FORMAT:
        return {"normal": None}
    from companion.latent_samplers import load_samplers

    return dict(load_samplers(ck))


def measure(ck: dict[str, Any], data_dir=None, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The headline numbers of a model dictionary, on the held-out data (seconds to a few minutes on a CPU).

    GAN and GLO: FID of 10,000 samples against the 10,000 MNIST test digits in the book's classifier
    features, for each of `FID_SEEDS` (mean, min, max), the classes covered and the blank samples (seed 0);
    one block per sampler for GLO. Encoder: PSNR of G(E(x)) on the first 1,000 test digits (with ``generator``).
    Classifier: accuracy on its 10,000 test images. Flow: bits/dim of the whole test set (4 draws, seed 0,
    as ``companion flow score`` computes it).
    """
    fmt = ck["format"]
    if fmt in (GAN_FORMAT, GLO_FORMAT):
        from companion.experiment import generate
        from companion.metrics import FIDScorer, blank_samples

        G, d = _gan_like(ck, device)
        scorer = FIDScorer(_classifier(data_dir, device), _test_images("mnist", data_dir).images, device)
        out: dict[str, Any] = {}
        for law, codes in _samplers(ck).items():
            runs, blank = [], 0
            for s in FID_SEEDS:
                images = generate(G, FID_SAMPLES, d, s, device=device, codes=codes)
                runs.append(scorer.score_images(images))
                if s == FID_SEEDS[0]:
                    blank = blank_samples(images)
            fids = [r["fid"] for r in runs]
            out[law] = {
                "fid": sum(fids) / len(fids), "fid_min": min(fids), "fid_max": max(fids), "fid_seeds": fids,
                "classes": runs[0]["modes"], "samples": FID_SAMPLES, "blank": blank,
            }  # fmt: skip
        return out
    if fmt == ENCODER_FORMAT:
        raise CompanionError("an encoder is measured with its generator: use measure_encoder")
    if fmt == CLASSIFIER_FORMAT:
        from companion.metrics import accuracy
        from companion.models import DigitClassifier

        model = DigitClassifier(channels=int(ck["channels"]))
        model.load_state_dict(ck["state"])
        test = _test_images(ck["dataset"], data_dir)
        return {"accuracy": accuracy(model.to(device).eval(), test.images.to(device), test.labels.to(device))}
    if fmt == FLOW_FORMAT:
        from companion.density import score_bpd
        from companion.models.glow import GlowSpec, build_glow

        flow = build_glow(GlowSpec(**ck["spec"]))
        flow.load_state_dict(ck["flow"])
        test = _test_images(ck["config"]["dataset"], data_dir)
        bpd = score_bpd(flow.to(device).eval(), test.images, draws=4, seed=0, device=device)
        return {"bpd": float(bpd.mean()), "images": len(bpd), "draws": 4}
    raise CompanionError(f"cannot measure a {fmt} model")


def measure_encoder(ck: dict[str, Any], generator: torch.nn.Module, data_dir=None, device="cpu") -> dict[str, Any]:
    """PSNR of G(E(x)) on the first 1,000 MNIST test digits (mean of per-image values)."""
    from companion.metrics import psnr
    from companion.models.encoder import Encoder

    E = Encoder(int(ck["latent_dim"]), int(ck["channels"]), int(ck["image_size"]))
    E.load_state_dict(ck["encoder"])
    x = _test_images("mnist", data_dir).float_images(slice(0, 1000)).to(device)
    with torch.no_grad():
        recon = generator(E.to(device).eval()(x)).clamp(0, 1)
    return {"psnr": float(psnr(recon, x).mean()), "images": len(x)}


def quick_checks(ck: dict[str, Any], data_dir=None, generator: torch.nn.Module | None = None) -> tuple[dict, dict]:
    """A cheap re-check of a model dictionary on the CPU: (numbers, tensors) to store and compare.

    GAN/GLO: 16 samples per sampler from seed 0 (stored; a re-run may differ by one grey level where a
    value sits on a rounding edge) and the mean grey level of 256. Flow: bits/dim of the first 500
    test images (1 draw, seed 0). Classifier: accuracy on the first 1,000 test images and the logits of
    the first 16. Encoder: E(x) of the first 16 test digits and the PSNR of G(E(x)) on the first 200.
    """
    fmt, nums, tensors = ck["format"], {}, {}
    if fmt in (GAN_FORMAT, GLO_FORMAT):
        from companion.experiment import generate

        G, d = _gan_like(ck, "cpu")
        for law, codes in _samplers(ck).items():
            tensors[f"sample_{law}"] = generate(G, 16, d, 0, codes=codes)
            nums[f"mean_grey_{law}"] = float(generate(G, 256, d, 0, codes=codes).float().mean())
    elif fmt == FLOW_FORMAT:
        from companion.density import score_bpd
        from companion.models.glow import GlowSpec, build_glow

        flow = build_glow(GlowSpec(**ck["spec"]))
        flow.load_state_dict(ck["flow"])
        x = _test_images(ck["config"]["dataset"], data_dir).images[:500]
        nums["bpd_500"] = float(score_bpd(flow.eval(), x, draws=1, seed=0).mean())
    elif fmt == CLASSIFIER_FORMAT:
        from companion.metrics import accuracy
        from companion.models import DigitClassifier

        model = DigitClassifier(channels=int(ck["channels"]))
        model.load_state_dict(ck["state"])
        test = _test_images(ck["dataset"], data_dir)
        nums["accuracy_1000"] = accuracy(model.eval(), test.images[:1000], test.labels[:1000])
        with torch.no_grad():
            tensors["logits"] = model(test.float_images(slice(0, 16)))
    elif fmt == ENCODER_FORMAT:
        from companion.metrics import psnr
        from companion.models.encoder import Encoder

        if generator is None:
            raise CompanionError("an encoder is checked with its generator")
        E = Encoder(int(ck["latent_dim"]), int(ck["channels"]), int(ck["image_size"]))
        E.load_state_dict(ck["encoder"])
        x = _test_images("mnist", data_dir).float_images(slice(0, 200))
        with torch.no_grad():
            z = E.eval()(x)
            nums["psnr_200"] = float(psnr(generator(z).clamp(0, 1), x).mean())
        tensors["z"] = z[:16]
    return nums, tensors


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _rounded(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32 tensors rounded through float16 (others untouched): what a float16 file loads back as."""
    return {k: v.half().float() if v.dtype == torch.float32 else v for k, v in tensors.items()}


def _agree(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Every headline number of ``a`` equals ``b``'s within `TOLERANCE` (nested blocks compared the same way)."""
    for k, v in a.items():
        if isinstance(v, dict):
            if not _agree(v, b[k]):
                return False
        elif k in TOLERANCE and abs(v - b[k]) > TOLERANCE[k]:
            return False
    return True


def pack(
    name: str,
    checkpoint: str | os.PathLike[str],
    *,
    data_dir=None,
    device: str | torch.device = "cpu",
    dtype: str = "auto",
    commit: str | None = None,
    generator: str | os.PathLike[str] | None = None,
    folder: Path = BOOK_DIR,
    extra: dict[str, Any] | None = None,
    measured: bool = True,
) -> dict[str, Any]:
    """Write ``NAME.safetensors`` and ``NAME.json`` from a run's checkpoint; returns the manifest.

    Args:
        name: A name of `companion.bookmodels.BOOK`.
        checkpoint: The run's ``ckpt.pt`` (or a ``book:`` model, to repack it).
        dtype: ``float32``, ``float16`` or ``auto`` (float16 where the headline numbers do not move).
        commit: The commit the run was trained with (default: this checkout's HEAD).
        generator: For an encoder, its generator (a checkpoint or ``book:`` name).
        extra: More provenance to record (e.g. the chapter's own numbers).
        measured: False skips the headline numbers (tests of the file format on tiny models; ``auto``
            then ships float32).
    """
    from safetensors.torch import save as st_save

    from companion.device import cpu_summary
    from companion.fsutil import atomic_write

    if name not in BOOK:
        raise CompanionError(f"unknown book model '{name}'; add it to companion.bookmodels.BOOK first")
    if dtype not in ("auto", "float32", "float16"):
        raise CompanionError(f"--dtype must be auto, float32 or float16, got {dtype}")
    ck = load_checkpoint(checkpoint, tuple(SHIPPED))
    kept = {k: ck[k] for k in ("format", *SHIPPED[ck["format"]]) if k in ck}
    if ck["format"] == GAN_FORMAT and "generator_ema" in kept:
        del kept["generator"]  # a run with an EMA of G is sampled from the average; the raw G stays in the run
    G = None
    if ck["format"] == ENCODER_FORMAT:
        from companion.encoder import generator_fingerprint
        from companion.experiment import load_generator

        if generator is None:
            raise CompanionError("packing an encoder needs --generator (the model it was trained against)")
        G, _, _ = load_generator(generator)
        if generator_fingerprint(G) != ck["generator_fingerprint"]:
            raise CheckpointError(f"{checkpoint} is an encoder for another generator than {generator}")
    tensors, rest = flatten(kept)

    def numbers(t: dict[str, torch.Tensor]) -> dict[str, Any]:
        from companion.bookmodels import unflatten

        if not measured:
            return {}
        d = unflatten(t, rest)
        return measure_encoder(d, G, data_dir, device) if G is not None else measure(d, data_dir, device)

    t0 = time.perf_counter()
    if not measured:
        dtype = "float32" if dtype == "auto" else dtype
    full = numbers(tensors)
    half = numbers(_rounded(tensors)) if dtype != "float32" else None
    ship16 = dtype == "float16" or (dtype == "auto" and _agree(full, half))
    headline = half if ship16 else full
    if ship16:
        tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    from companion.bookmodels import unflatten

    nums, check_t = quick_checks(unflatten({k: v.float() if v.dtype == torch.float16 else v
                                            for k, v in tensors.items()}, rest), data_dir, G)  # fmt: skip
    blob = st_save({**{k: v.contiguous() for k, v in tensors.items()},
                    **{f"{CHECK}{SEP}{k}": v.contiguous() for k, v in check_t.items()}})  # fmt: skip
    weights, meta = book_files(name, folder)
    atomic_write(weights, lambda f: f.write(blob))
    run = Path(checkpoint).parent
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
    if "train_seconds" not in summary and (run / "metrics.jsonl").is_file():  # an encoder's run: its epochs' times
        from companion.runlog import RunLog

        epochs = RunLog(run / "metrics.jsonl").read("epoch")
        summary["train_seconds"] = sum(r.get("seconds", 0.0) for r in epochs) or None
    man = {
        "manifest": MANIFEST_FORMAT,
        "name": name,
        "about": BOOK[name].about,
        "format": ck["format"],
        "bytes": weights.stat().st_size,
        "sha256": file_digest(weights),
        "dtype": "float16" if ship16 else "float32",
        "parameters": sum(v.numel() for k, v in tensors.items() if v.is_floating_point()),
        "headline": headline,
        "float16_check": None if half is None else {"float32": _strip(full), "float16": _strip(half), "kept": ship16},
        "checks": nums,
        "provenance": {
            "run": BOOK[name].run,
            "command": config.get("command") or BOOK[name].retrain,
            "retrain": BOOK[name].retrain,
            "commit": commit or _commit(),
            "train_seconds": summary.get("train_seconds"),
            "machine": cpu_summary(),
            "torch": torch.__version__,
            "packed": time.strftime("%Y-%m-%d"),
            "measure_seconds": round(time.perf_counter() - t0, 1),
            **(extra or {}),
        },
        "entries": rest,
    }
    text = json.dumps(man, indent=1, sort_keys=False) + "\n"
    atomic_write(meta, lambda f: f.write(text.encode()))
    return man


def _strip(h: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a headline block that `TOLERANCE` compares (nested blocks kept)."""
    return {k: (_strip(v) if isinstance(v, dict) else v) for k, v in h.items() if isinstance(v, dict) or k in TOLERANCE}


#: How far a re-check may drift on another CPU (different vector instructions round differently).
CHECK_TOLERANCE = {"mean_grey": 0.05, "bpd_500": 2e-4, "accuracy_1000": 0.0, "psnr_200": 0.01}


def verify(name: str, data_dir=None, folder: Path | None = None) -> list[str]:
    """Repeat a shipped model's `quick_checks` and compare with its manifest; returns the failures (empty: good).

    Samples may differ by one grey level (a value on a rounding edge); numbers by `CHECK_TOLERANCE`.
    """
    from companion.bookmodels import load_book, load_book_checks

    ref = f"book:{name}"
    ck = load_book(ref, folder)
    want, want_t = load_book_checks(ref, folder)
    G = None
    if ck["format"] == ENCODER_FORMAT:
        from companion.encoder import generator_fingerprint
        from companion.experiment import load_generator

        G, _, _ = load_generator("book:gan-nonsaturating")
        if generator_fingerprint(G) != ck["generator_fingerprint"]:
            return [f"{ref} is not the encoder of book:gan-nonsaturating (fingerprints differ)"]
    got, got_t = quick_checks(ck, data_dir, G)
    bad = []
    for k, v in want.items():
        tol = next((t for prefix, t in CHECK_TOLERANCE.items() if k.startswith(prefix)), 0.0)
        if k not in got or abs(got[k] - v) > tol:
            bad.append(f"{ref}: {k} is {got.get(k)} where its manifest says {v} (tolerance {tol})")
    for k, v in want_t.items():
        g = got_t.get(k)
        if g is None or g.shape != v.shape:
            bad.append(f"{ref}: check tensor {k} has another shape")
        elif v.dtype == torch.uint8:
            diff = (g.int() - v.int()).abs()
            if int(diff.max()) > 1 or float((diff > 0).float().mean()) > 0.01:
                bad.append(f"{ref}: {k} differs by up to {int(diff.max())} grey levels from the stored sample")
        elif not torch.allclose(g.float(), v.float(), atol=1e-3, rtol=1e-3):
            bad.append(f"{ref}: {k} differs from the stored values by {float((g - v).abs().max()):.2e}")
    return bad
