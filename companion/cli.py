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


def _add_inversion(sub: argparse._SubParsersAction) -> None:
    from companion.inversion import EncoderConfig, InversionConfig

    e = sub.add_parser("encoder", help="the encoder E: x -> z for a trained generator (chapter 2)")
    esub = e.add_subparsers(dest="action", required=True, parser_class=_Parser)
    t = esub.add_parser("train", help="train E against a frozen generator")
    t.add_argument("--generator", required=True, type=Path, help="GAN checkpoint (ckpt.pt)")
    t.add_argument("--out", required=True, type=Path, help="run folder")
    t.add_argument("--data-dir")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--no-progress", action="store_true")
    for f in dataclasses.fields(EncoderConfig):
        t.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, help=f"default {f.default!r}")

    i = sub.add_parser("invert", help="find z with G(z) close to given images (chapter 2)")
    i.add_argument("--generator", required=True, type=Path)
    i.add_argument("--method", choices=("optimize", "encoder", "hybrid"), default="optimize")
    i.add_argument("--encoder", type=Path, help="encoder checkpoint (for encoder and hybrid)")
    i.add_argument("--images", required=True, type=Path, help=".npy (uint8 or float in [0,1]) or a folder of PNGs")
    i.add_argument("--out", required=True, type=Path, help="reconstructions, uint8 .npy; latents go beside it")
    i.add_argument("--device", default="auto")
    for f in dataclasses.fields(InversionConfig):
        i.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, help=f"default {f.default!r}")


def _add_restore(sub: argparse._SubParsersAction) -> None:
    from companion.inversion import InversionConfig

    r = sub.add_parser("restore", help="restore degraded images with a GAN prior (chapter 3)")
    r.add_argument("--generator", required=True, type=Path)
    r.add_argument("--task", required=True, choices=("denoise", "inpaint", "superres", "cs"))
    r.add_argument("--sigma", type=float, default=0.3, help="denoise: noise std (images in [0, 1])")
    r.add_argument("--mask", default="box14", help="inpaint: box8 | box14 | dropout50 | dropout80 | half | FILE.npy")
    r.add_argument("--factor", type=int, default=2, help="superres: downsampling factor")
    r.add_argument("--m", type=int, default=100, help="cs: number of Gaussian measurements")
    r.add_argument("--images", required=True, type=Path, help="CLEAN images; they are degraded here (seeded)")
    r.add_argument("--out", required=True, type=Path, help="restored images, uint8 .npy; degraded view beside it")
    r.add_argument("--encoder", type=Path, help="optional encoder: start the optimisation at E(degraded view)")
    r.add_argument("--data-loss", choices=("mse", "l1"), help="default: l1 for inpainting, mse otherwise")
    r.add_argument("--device", default="auto")
    for f in dataclasses.fields(InversionConfig):
        if f.name != "loss":
            r.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None, help=f"default {f.default!r}")


def _dataclass_from_args(cls, args: argparse.Namespace, **fixed):
    from companion.config import parse_value

    values = {
        f.name: parse_value(f.name, getattr(args, f.name), cls)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }
    values.update(fixed)
    return cls(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="companion", description="GAN Companion: the book's command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_sample(sub)
    _add_classifier(sub)
    _add_inversion(sub)
    _add_restore(sub)
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


def _cmd_encoder(args: argparse.Namespace) -> int:
    from companion.experiment import load_generator, prepare_run_dir, training_data
    from companion.inversion import EncoderConfig, train_encoder
    from companion.train import resolve_device

    cfg = _dataclass_from_args(EncoderConfig, args)
    if cfg.epochs <= 0 or cfg.batch_size <= 0:
        raise CompanionError("epochs and batch_size must be positive")
    device = resolve_device(cfg.device)
    G, _spec, gcfg = load_generator(args.generator, device)
    prepare_run_dir(args.out, resume=args.resume, overwrite=args.overwrite, dry=True)
    from companion.config import TrainConfig

    data = training_data(TrainConfig(**gcfg), args.data_dir)
    prepare_run_dir(args.out, resume=args.resume, overwrite=args.overwrite)
    summary = train_encoder(G, data.images.to(device), cfg, args.out, resume=args.resume, progress=not args.no_progress)
    print(
        f"done: encoder after {summary['epochs']} epochs, reconstruction MSE "
        f"{summary['final']['recon_mse']:.4f}; checkpoint {args.out / 'ckpt.pt'}"
    )
    return 0


def _cmd_invert(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from companion.experiment import load_generator
    from companion.imageio import read_images, write_npy
    from companion.inversion import InversionConfig, check_images, fit_latent, load_encoder
    from companion.train import resolve_device

    cfg = _dataclass_from_args(InversionConfig, args)
    cfg.validate()
    if args.method in ("encoder", "hybrid") and args.encoder is None:
        raise CompanionError(f"--method {args.method} needs --encoder (train one with: companion encoder train)")
    if args.out.suffix != ".npy":
        raise CompanionError(f"--out must end in .npy, got {args.out}")
    device = resolve_device(args.device)
    G, spec, _ = load_generator(args.generator, device)
    x = check_images(read_images(args.images), (spec.channels, spec.image_size, spec.image_size)).to(device)
    E = load_encoder(args.encoder, G, device) if args.encoder else None
    if args.method == "encoder":
        with torch.no_grad():
            z = E(x)
            recon = G(z)
    else:
        z0 = None
        if args.method == "hybrid":
            with torch.no_grad():
                z0 = E(x)
            if args.restarts is None:
                cfg = dataclasses.replace(cfg, restarts=1)
        res = fit_latent(G, x, cfg, z0=z0)
        z, recon = res.z, res.images
    write_npy(recon, args.out)
    np.save(args.out.with_name(args.out.stem + "_z.npy"), z.detach().cpu().numpy())
    mse = float((recon - x).square().mean())
    print(
        f"wrote {args.out} ({x.shape[0]} images, {args.method}); mean PSNR {10 * np.log10(1 / max(mse, 1e-12)):.2f} dB"
    )
    return 0


def _restore_operator(args: argparse.Namespace, n: int, shape: tuple[int, int, int]):
    import numpy as np
    import torch

    from companion.restoration import Mask, make_task

    if args.task == "denoise":
        if args.sigma < 0:
            raise CompanionError(f"--sigma must be >= 0, got {args.sigma}")
        return make_task("denoise", args.sigma, n, shape)
    if args.task == "superres":
        return make_task("superres", args.factor, n, shape)
    if args.task == "cs":
        return make_task("cs", args.m, n, shape)
    presets = {
        "box8": ("box", 8),
        "box14": ("box", 14),
        "dropout50": ("dropout", 0.5),
        "dropout80": ("dropout", 0.8),
        "half": ("half", 0),
    }
    if args.mask in presets:
        return make_task(*presets[args.mask], n, shape)
    path = Path(args.mask)
    if path.suffix != ".npy" or not path.is_file():
        raise CompanionError(f"--mask must be one of {', '.join(presets)} or an existing .npy file, got {args.mask}")
    m = torch.from_numpy(np.load(path)).float()
    m = m.reshape(1, 1, *m.shape) if m.ndim == 2 else m
    if m.shape[0] not in (1, n):
        raise CompanionError(f"--mask holds {m.shape[0]} masks for {n} images")
    return Mask(shape, m)


def _cmd_restore(args: argparse.Namespace) -> int:
    import torch

    from companion.experiment import load_generator
    from companion.imageio import read_images, write_npy
    from companion.inversion import InversionConfig, check_images, load_encoder
    from companion.restoration import restore
    from companion.train import resolve_device

    cfg = _dataclass_from_args(InversionConfig, args)
    cfg.validate()
    if args.out.suffix != ".npy":
        raise CompanionError(f"--out must end in .npy, got {args.out}")
    device = resolve_device(args.device)
    G, spec, _ = load_generator(args.generator, device)
    shape = (spec.channels, spec.image_size, spec.image_size)
    x = check_images(read_images(args.images), shape).to(device)
    op = _restore_operator(args, x.shape[0], shape)
    y = op.degrade(x, seed=cfg.seed)
    z0 = None
    if args.encoder:
        with torch.no_grad():
            z0 = load_encoder(args.encoder, G, device)(op.view(y))
    res = restore(G, y, op, cfg, data_loss=args.data_loss, z0=z0)
    write_npy(res.images, args.out)
    write_npy(op.view(y), args.out.with_name(args.out.stem + "_degraded.npy"))
    from companion.metrics import psnr

    before, after = float(psnr(op.view(y), x).mean()), float(psnr(res.images, x).mean())
    print(
        f"wrote {args.out} and {args.out.stem}_degraded.npy ({x.shape[0]} images, {args.task}); "
        f"PSNR degraded {before:.2f} dB -> restored {after:.2f} dB"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``companion`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    handlers = {
        "train": _cmd_train,
        "sample": _cmd_sample,
        "classifier": _cmd_classifier,
        "encoder": _cmd_encoder,
        "invert": _cmd_invert,
        "restore": _cmd_restore,
    }
    try:
        return handlers[args.command](args)
    except CompanionError as exc:
        print(f"companion: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
