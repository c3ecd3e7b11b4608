"""The ``companion`` command: train, sample, classifier.

Every user mistake ends in one line on stderr and exit status 2 (see
`companion.errors`); Ctrl-C ends with status 130 and says how to resume.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from companion.config import PRESETS, TrainConfig
from companion.errors import CompanionError

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a GAN (chapter 1)", description="Train a GAN; every TrainConfig field is an option."
    )
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--preset", choices=sorted(PRESETS), help="quick: CPU minutes; full: the report's 20 epochs")
    p.add_argument("--data-dir", help="data folder (default: $COMPANION_DATA or ~/.cache/companion/data)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--fid-features", choices=("classifier", "inception"), default="classifier")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    for f in dataclasses.fields(TrainConfig):
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            default=None,
            metavar=str(f.type).upper(),
            help=f"default {f.default!r}",
        )


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained generator into a .npy file")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--out", required=True, type=Path, help="output .npy, uint8 (N, C, H, W)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def _add_classifier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classifier", help="the digit classifier behind FID and the digit checks")
    csub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    t = csub.add_parser("train", help="train (or retrain) and cache the classifier")
    t.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "synthetic"))
    t.add_argument("--data-dir")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--device", default="auto")
    t.add_argument("--out", type=Path, help="where to save (default: the user cache)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="companion", description="GAN Companion: the book's command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_sample(sub)
    _add_classifier(sub)
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from companion.config import make_config
    from companion.experiment import run_training

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    explicit = {k for k, v in overrides.items() if v is not None}
    cfg = make_config(args.preset, **overrides)
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
    final = summary.get("final", {})
    fid = f", FID {final['fid']:.2f}" if final.get("fid") is not None else ""
    print(f"done: {summary['epochs']} epochs of {summary['loss']}{fid}; artifacts in {args.out}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from companion.experiment import generate, load_generator
    from companion.train import resolve_device

    if args.n <= 0:
        raise CompanionError(f"--n must be positive, got {args.n}")
    if args.out.suffix != ".npy":
        raise CompanionError(f"--out must end in .npy, got {args.out}")
    device = resolve_device(args.device)
    G, spec, _ = load_generator(args.checkpoint, device)
    images = generate(G, args.n, spec.latent_dim, args.seed, device=device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, images.numpy())
    print(f"wrote {args.out}: uint8 {tuple(images.shape)}")
    return 0


def _cmd_classifier(args: argparse.Namespace) -> int:
    from companion.metrics import classifier_path, train_classifier
    from companion.train import resolve_device

    if args.epochs <= 0:
        raise CompanionError(f"--epochs must be positive, got {args.epochs}")
    _, acc = train_classifier(
        args.dataset, args.data_dir, epochs=args.epochs, device=resolve_device(args.device), out=args.out
    )
    print(f"{args.dataset} classifier: test accuracy {acc:.2%}; saved to {args.out or classifier_path(args.dataset)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``companion`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    handlers = {"train": _cmd_train, "sample": _cmd_sample, "classifier": _cmd_classifier}
    try:
        return handlers[args.command](args)
    except CompanionError as exc:
        print(f"companion: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
