"""The GAN commands: ``train`` (chapter 1), ``sample`` and ``classifier`` (the judge behind FID)."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from companion.cli.common import DEVICE_HELP
from companion.config import PRESETS, TrainConfig, train_choices
from companion.device import DEVICES
from companion.errors import CompanionError
from companion.options import OneLineParser, add_options, check_choice, check_positive, check_seed, from_args

__all__ = ["HANDLERS", "SampleConfig", "add"]


#: ``companion sample --sampler``: default (the model's own choice), normal (a GAN's z), or a GLO sampler.
SAMPLER_CHOICES = ("default", "normal", "imle", "gmm", "gaussian")


@dataclass(frozen=True)
class SampleConfig:
    """What ``companion sample`` draws: ``n`` images from z ~ N(0, I) seeded with ``seed``."""

    n: int = 10000
    seed: int = 0
    device: str = "auto"
    sampler: str = "default"  # GLO: imle | gmm | gaussian (default: the one its run measured best); GAN: normal

    def __post_init__(self) -> None:
        check_positive(self, "n")
        check_seed(self)
        check_choice("device", self.device, DEVICES)
        check_choice("sampler", self.sampler, SAMPLER_CHOICES)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a GAN (chapter 1)", description="Train a GAN; every TrainConfig field is an option."
    )
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--preset", help=f"one of {', '.join(PRESETS)}: quick = CPU minutes, full = the report's 20 epochs")
    p.add_argument("--data-dir", help="data folder (default: $COMPANION_DATA or ~/.cache/companion/data)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out (only its own files)")
    p.add_argument("--fid-features", choices=("classifier", "inception"), default="classifier")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_options(p, TrainConfig, choices=train_choices())

    s = sub.add_parser(
        "sample",
        help="draw samples from a trained generator into a .npy file or a PNG grid",
        description="Write G(z) for latents drawn with --seed (z ~ N(0, I) for a GAN, a fitted sampler for GLO): "
        "a .npy of uint8 grey levels 0..255, shape (N, C, H, W), or a labelled PNG grid.",
    )
    s.add_argument("--checkpoint", required=True, type=Path, help="a GAN or GLO ckpt.pt, or book:NAME")
    s.add_argument("--out", required=True, type=Path, help="output .npy (uint8 0..255, (N, C, H, W)) or .png (a grid)")
    add_options(s, SampleConfig, choices={"device": DEVICES, "sampler": SAMPLER_CHOICES})

    c = sub.add_parser("classifier", help="the digit classifier behind FID and the digit checks")
    csub = c.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    t = csub.add_parser("train", help="train (or retrain) and cache the classifier")
    t.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "synthetic"))
    t.add_argument("--data-dir")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--device", default="auto", help=DEVICE_HELP)
    t.add_argument("--out", type=Path, help="where to save (default: the user cache)")


def train(args: argparse.Namespace) -> int:
    from companion.config import make_config
    from companion.experiment import run_training
    from companion.options import given_options

    explicit = given_options(TrainConfig, args)
    cfg = make_config(args.preset, **{k: getattr(args, k) for k in explicit})
    try:
        summary = run_training(
            cfg,
            args.out,
            data_dir=args.data_dir,
            resume=args.resume,
            overwrite=args.overwrite,
            explicit=explicit,
            progress=not args.no_progress,
            fid_features=args.fid_features,
            command="companion " + shlex.join(sys.argv[1:]),
        )
    except KeyboardInterrupt:
        print(
            f"interrupted: the last finished epoch is in {args.out / 'ckpt.pt'}; "
            f"continue with: companion train --out {args.out} --resume",
            file=sys.stderr,
        )
        return 130
    if not summary:  # a rank other than 0 of a torchrun: rank 0 reports
        return 0
    final = summary.get("final", {})
    fid = f", FID {final['fid']:.2f}" if final.get("fid") is not None else ""
    print(f"done: {summary['epochs']} epochs of {summary['loss']}{fid}; artifacts in {args.out}")
    return 0


def sample(args: argparse.Namespace) -> int:
    from companion.artifacts import save_labelled_grid
    from companion.device import resolve_device
    from companion.experiment import generate, latent_law, load_generator
    from companion.fsutil import check_output_file
    from companion.imageio import write_npy

    cfg = from_args(SampleConfig, args)
    check_output_file(args.out, (".npy", ".png"))
    device = resolve_device(cfg.device)
    G, spec, _ = load_generator(args.checkpoint, device)
    name, codes = latent_law(args.checkpoint, None if cfg.sampler == "default" else cfg.sampler)
    law = LAWS[name]
    images = generate(G, cfg.n, spec.latent_dim, cfg.seed, device=device, codes=codes)
    if args.out.suffix == ".png":
        save_labelled_grid(images, args.out, f"{args.checkpoint}: {cfg.n} samples, {law}, seed {cfg.seed}")
    else:
        write_npy(images, args.out)  # uint8 0..255: G(z) exactly
    mean = float(images.float().mean())
    kind = "a PNG grid of" if args.out.suffix == ".png" else "uint8"
    print(f"wrote {args.out}: {kind} {tuple(images.shape)} from {law} (sampler {name}), mean grey level {mean:.2f}")
    return 0


#: How ``sample`` names each latent law in its line and on a PNG grid.
LAWS = {
    "normal": "z ~ N(0, I)",
    "gaussian": "the Gaussian fitted to its GLO codes",
    "imle": "GLANN's IMLE mapper over its GLO codes",
    "gmm": "the mixture of Gaussians fitted to its GLO codes",
}


def classifier(args: argparse.Namespace) -> int:
    from companion.device import resolve_device
    from companion.metrics import classifier_path, train_classifier

    if args.epochs <= 0:
        raise CompanionError(f"--epochs must be positive, got {args.epochs}")
    _, acc = train_classifier(
        args.dataset, args.data_dir, epochs=args.epochs, device=resolve_device(args.device), out=args.out
    )
    print(f"{args.dataset} classifier: test accuracy {acc:.2%}; saved to {args.out or classifier_path(args.dataset)}")
    return 0


HANDLERS = {"train": train, "sample": sample, "classifier": classifier}
