"""The inversion commands of chapter 2: ``encoder train`` and ``invert``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from companion.cli.common import DEVICE_HELP, check_outputs, psnr_line
from companion.config import TrainConfig
from companion.device import DEVICES
from companion.errors import CompanionError
from companion.options import OneLineParser, add_options, from_args

__all__ = ["HANDLERS", "add"]


def add(sub: argparse._SubParsersAction) -> None:
    from companion.encoder import EncoderConfig
    from companion.inversion import InversionConfig

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

    i = sub.add_parser(
        "invert", help="find z with G(z) close to given images (chapter 2); a flow's code is exact: z = f(x)"
    )
    i.add_argument("--generator", required=True, type=Path, help="a GAN, GLO or flow ckpt.pt, or book:NAME")
    i.add_argument("--method", choices=("optimize", "encoder", "hybrid"), default="optimize")
    i.add_argument("--encoder", type=Path, help="encoder checkpoint (for encoder and hybrid)")
    i.add_argument("--images", required=True, type=Path, help=".npy (uint8 or float in [0,1]) or a folder of PNGs")
    i.add_argument("--out", required=True, type=Path, help="reconstructions, uint8 .npy; latents go beside it")
    i.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_options(i, InversionConfig)


def encoder(args: argparse.Namespace) -> int:
    from companion.artifacts import render_run
    from companion.device import resolve_device
    from companion.encoder import EncoderConfig, train_encoder
    from companion.experiment import load_generator, training_data
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
    render_run(args.out)
    print(
        f"done: encoder after {summary['epochs']} epochs, reconstruction MSE "
        f"{summary['final']['recon_mse']:.4f}; checkpoint {args.out / 'ckpt.pt'}"
    )
    return 0


def invert(args: argparse.Namespace) -> int:
    import torch

    from companion.device import resolve_device
    from companion.encoder import load_encoder
    from companion.imageio import check_images, read_images, write_npy
    from companion.inversion import InversionConfig, fit_latent
    from companion.priors import load_prior

    cfg = from_args(InversionConfig, args)
    if args.method in ("encoder", "hybrid") and args.encoder is None:
        raise CompanionError(f"--method {args.method} needs --encoder (train one with: companion encoder train)")
    out, z_out = check_outputs(args.out, [args.images, args.generator, args.encoder], "_z.npy")
    device = resolve_device(args.device)
    prior = load_prior(args.generator, device)
    if prior.exact and (args.method != "optimize" or args.encoder):
        raise CompanionError("a flow is inverted exactly (z = f(x)): it takes no --method encoder|hybrid or --encoder")
    G = prior.decoder
    x = check_images(read_images(args.images), prior.shape).to(device)
    E = load_encoder(args.encoder, G, device) if args.encoder else None
    if prior.exact:
        res = prior.invert(x, cfg)
        write_npy(res.images, out)
        write_npy(res.z, z_out, as_images=False)
        print(f"wrote {out} and {z_out.name} ({x.shape[0]} images, the flow's exact code z = f(x)); "
              f"{psnr_line(res.images, x)}")  # fmt: skip
        return 0
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
    print(f"wrote {out} and {z_out.name} ({x.shape[0]} images, {args.method}); {psnr_line(recon, x)}")
    return 0


HANDLERS = {"encoder": encoder, "invert": invert}
