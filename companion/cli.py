"""The ``companion`` command: train, sample, classifier, encoder, invert, restore.

Every user mistake ends in one line on stderr and exit status 2 (see `companion.errors`);
Ctrl-C ends with status 130 and says how to resume. Options of the settings dataclasses are
generated from their fields (`companion.options.add_options`), and every output location is
checked before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from companion.config import PRESETS, TrainConfig, train_choices
from companion.device import DEVICES
from companion.errors import CompanionError
from companion.options import OneLineParser, add_options, from_args, given_options

__all__ = ["build_parser", "main"]

_DEVICE_HELP = f"one of {', '.join(DEVICES)}"


def _add_train(sub: argparse._SubParsersAction) -> None:
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


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained generator into a .npy file")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--out", required=True, type=Path, help="output .npy, uint8 (N, C, H, W)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help=_DEVICE_HELP)


def _add_classifier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classifier", help="the digit classifier behind FID and the digit checks")
    csub = p.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    t = csub.add_parser("train", help="train (or retrain) and cache the classifier")
    t.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "synthetic"))
    t.add_argument("--data-dir")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--device", default="auto", help=_DEVICE_HELP)
    t.add_argument("--out", type=Path, help="where to save (default: the user cache)")


def _add_inversion(sub: argparse._SubParsersAction) -> None:
    from companion.inversion import EncoderConfig, InversionConfig

    e = sub.add_parser("encoder", help="the encoder E: x -> z for a trained generator (chapter 2)")
    esub = e.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    t = esub.add_parser("train", help="train E against a frozen generator")
    t.add_argument("--generator", required=True, type=Path, help="GAN checkpoint (ckpt.pt)")
    t.add_argument("--out", required=True, type=Path, help="run folder")
    t.add_argument("--data-dir")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--no-progress", action="store_true")
    add_options(t, EncoderConfig, choices={"device": DEVICES})

    i = sub.add_parser("invert", help="find z with G(z) close to given images (chapter 2)")
    i.add_argument("--generator", required=True, type=Path)
    i.add_argument("--method", choices=("optimize", "encoder", "hybrid"), default="optimize")
    i.add_argument("--encoder", type=Path, help="encoder checkpoint (for encoder and hybrid)")
    i.add_argument("--images", required=True, type=Path, help=".npy (uint8 or float in [0,1]) or a folder of PNGs")
    i.add_argument("--out", required=True, type=Path, help="reconstructions, uint8 .npy; latents go beside it")
    i.add_argument("--device", default="auto", help=_DEVICE_HELP)
    add_options(i, InversionConfig)


def _add_restore(sub: argparse._SubParsersAction) -> None:
    from companion.inversion import InversionConfig
    from companion.restoration import CLI_TASKS, MASKS

    r = sub.add_parser("restore", help="restore degraded images with a GAN prior (chapter 3)")
    r.add_argument("--generator", required=True, type=Path)
    r.add_argument("--task", required=True, choices=CLI_TASKS)
    r.add_argument("--sigma", type=float, default=0.3, help="denoise: noise std (images in [0, 1])")
    r.add_argument("--mask", default="box14", help=f"inpaint: {' | '.join(MASKS)} | FILE.npy (1 = known pixel)")
    r.add_argument("--factor", type=int, default=2, help="superres: downsampling factor")
    r.add_argument("--m", type=int, default=100, help="cs: number of Gaussian measurements")
    r.add_argument("--images", required=True, type=Path, help="CLEAN images; they are degraded here (seeded)")
    r.add_argument("--out", required=True, type=Path, help="restored images, uint8 .npy; degraded view beside it")
    r.add_argument("--encoder", type=Path, help="optional encoder: start the optimisation at E(degraded view)")
    r.add_argument("--data-loss", choices=("mse", "l1"), help="default: l1 for inpainting, mse otherwise")
    r.add_argument("--device", default="auto", help=_DEVICE_HELP)
    add_options(r, InversionConfig, skip=("loss",))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="companion", description="GAN Companion: the book's command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    _add_train(sub)
    _add_sample(sub)
    _add_classifier(sub)
    _add_inversion(sub)
    _add_restore(sub)
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from companion.config import make_config
    from companion.experiment import run_training

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
    final = summary.get("final", {})
    fid = f", FID {final['fid']:.2f}" if final.get("fid") is not None else ""
    print(f"done: {summary['epochs']} epochs of {summary['loss']}{fid}; artifacts in {args.out}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from companion.device import resolve_device
    from companion.experiment import generate, load_generator
    from companion.fsutil import check_output_file
    from companion.imageio import write_npy

    if args.n <= 0:
        raise CompanionError(f"--n must be positive, got {args.n}")
    check_output_file(args.out, ".npy")
    device = resolve_device(args.device)
    G, spec, _ = load_generator(args.checkpoint, device)
    images = generate(G, args.n, spec.latent_dim, args.seed, device=device)
    write_npy(images, args.out)
    print(f"wrote {args.out}: uint8 {tuple(images.shape)}")
    return 0


def _cmd_classifier(args: argparse.Namespace) -> int:
    from companion.device import resolve_device
    from companion.metrics import classifier_path, train_classifier

    if args.epochs <= 0:
        raise CompanionError(f"--epochs must be positive, got {args.epochs}")
    _, acc = train_classifier(
        args.dataset, args.data_dir, epochs=args.epochs, device=resolve_device(args.device), out=args.out
    )
    print(f"{args.dataset} classifier: test accuracy {acc:.2%}; saved to {args.out or classifier_path(args.dataset)}")
    return 0


def _cmd_encoder(args: argparse.Namespace) -> int:
    from companion.device import resolve_device
    from companion.experiment import load_generator, training_data
    from companion.inversion import EncoderConfig, train_encoder
    from companion.loop import steps_per_epoch
    from companion.rundir import prepare_run_dir

    cfg = from_args(EncoderConfig, args)
    device = resolve_device(cfg.device)
    G, _spec, gcfg = load_generator(args.generator, device)
    prepare_run_dir(args.out, resume=args.resume, overwrite=args.overwrite, dry=True)
    data = training_data(TrainConfig(**gcfg), args.data_dir)
    steps_per_epoch(len(data), cfg.batch_size)  # refuse before the folder is touched
    prepare_run_dir(args.out, resume=args.resume, overwrite=args.overwrite)
    summary = train_encoder(G, data.images.to(device), cfg, args.out, resume=args.resume, progress=not args.no_progress)
    from companion.artifacts import render_run

    render_run(args.out)
    print(
        f"done: encoder after {summary['epochs']} epochs, reconstruction MSE "
        f"{summary['final']['recon_mse']:.4f}; checkpoint {args.out / 'ckpt.pt'}"
    )
    return 0


def _outputs(out: Path, inputs: Sequence[Path | None], *siblings: str) -> list[Path]:
    """Check ``out`` and its sibling outputs (``out`` stem + suffix) before any work; none may be an input."""
    from companion.fsutil import check_output_file

    check_output_file(out, ".npy")
    paths = [out, *(out.with_name(out.stem + s) for s in siblings)]
    given = {p.resolve() for p in inputs if p is not None}
    for p in paths:
        if p.resolve() in given:
            raise CompanionError(f"--out would overwrite the input {p}; choose another output name")
        if p.is_dir():
            raise CompanionError(f"the output {p} is a folder, not a file")
    return paths


def _psnr_line(recon, x) -> str:
    from companion.metrics import psnr

    p = psnr(recon, x)
    return f"PSNR (mean of per-image values) {float(p.mean()):.2f} dB, median {float(p.median()):.2f} dB"


def _cmd_invert(args: argparse.Namespace) -> int:
    import torch

    from companion.device import resolve_device
    from companion.experiment import load_generator
    from companion.imageio import read_images, write_npy
    from companion.inversion import InversionConfig, check_images, fit_latent, load_encoder

    cfg = from_args(InversionConfig, args)
    if args.method in ("encoder", "hybrid") and args.encoder is None:
        raise CompanionError(f"--method {args.method} needs --encoder (train one with: companion encoder train)")
    out, z_out = _outputs(args.out, [args.images, args.generator, args.encoder], "_z.npy")
    device = resolve_device(args.device)
    G, spec, _ = load_generator(args.generator, device)
    x = check_images(read_images(args.images), spec.image_shape).to(device)
    E = load_encoder(args.encoder, G, device) if args.encoder else None
    if args.method == "encoder":
        with torch.no_grad():
            z = E(x)
            recon = G(z).clamp(0, 1)
    else:
        z0 = None
        if args.method == "hybrid":
            with torch.no_grad():
                z0 = E(x)
            if args.restarts is None:
                cfg = dataclasses.replace(cfg, restarts=1)
        res = fit_latent(G, x, cfg, z0=z0)
        z, recon = res.z, res.images
    write_npy(recon, out)
    write_npy(z, z_out, as_images=False)
    print(f"wrote {out} and {z_out.name} ({x.shape[0]} images, {args.method}); {_psnr_line(recon, x)}")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    import torch

    from companion.device import resolve_device
    from companion.experiment import load_generator
    from companion.imageio import read_images, write_npy
    from companion.inversion import InversionConfig, check_images, load_encoder
    from companion.restoration import cli_operator, restore

    cfg = from_args(InversionConfig, args)
    mask_file = Path(args.mask) if args.task == "inpaint" and args.mask.endswith(".npy") else None
    out, deg_out = _outputs(args.out, [args.images, args.generator, args.encoder, mask_file], "_degraded.npy")
    device = resolve_device(args.device)
    G, spec, _ = load_generator(args.generator, device)
    x = check_images(read_images(args.images), spec.image_shape).to(device)
    op = cli_operator(
        args.task, x.shape[0], spec.image_shape, sigma=args.sigma, mask=args.mask, factor=args.factor, m=args.m
    )
    y = op.degrade(x, seed=cfg.seed)
    z0 = None
    if args.encoder:
        with torch.no_grad():
            z0 = load_encoder(args.encoder, G, device)(op.view(y))
    res = restore(G, y, op, cfg, data_loss=args.data_loss, z0=z0)
    write_npy(res.images, out)
    write_npy(op.view(y), deg_out)
    print(
        f"wrote {out} and {deg_out.name} ({x.shape[0]} images, {args.task}); degraded: {_psnr_line(op.view(y), x)}; "
        f"restored: {_psnr_line(res.images, x)}"
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
