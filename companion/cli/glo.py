"""``companion glo train``: the report's generator trained by GLO, without a discriminator (chapter 5)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from companion.options import OneLineParser, add_options, given_options

__all__ = ["HANDLERS", "add"]


def add(sub: argparse._SubParsersAction) -> None:
    from companion.glo import GLO_PRESETS, GLOConfig

    g = sub.add_parser("glo", help="GLO: one learned code per training image, no discriminator (chapter 5)")
    gsub = g.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    t = gsub.add_parser("train", help="train G and the codes", description="Every GLOConfig field is an option.")
    t.add_argument("--out", required=True, type=Path, help="run folder")
    t.add_argument("--preset", help=f"one of {', '.join(GLO_PRESETS)}")
    t.add_argument("--data-dir", help="data folder (default: $COMPANION_DATA or ~/.cache/companion/data)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    t.add_argument("--overwrite", action="store_true", help="replace the run in --out (only its own files)")
    t.add_argument("--no-progress", action="store_true")
    add_options(t, GLOConfig)


def glo(args: argparse.Namespace) -> int:
    from companion.glo import GLOConfig, make_glo_config, run_glo_training

    explicit = given_options(GLOConfig, args)
    cfg = make_glo_config(args.preset, **{k: getattr(args, k) for k in explicit})
    try:
        summary = run_glo_training(
            cfg, args.out, data_dir=args.data_dir, resume=args.resume, overwrite=args.overwrite, explicit=explicit,
            progress=not args.no_progress, command="companion " + shlex.join(sys.argv[1:]),
        )  # fmt: skip
    except KeyboardInterrupt:
        print(f"interrupted: continue with: companion glo train --out {args.out} --resume", file=sys.stderr)
        return 130
    if not summary:  # a rank other than 0 of a torchrun: rank 0 reports and fits the samplers
        return 0
    from companion.latent_samplers import store_samplers

    # GLO has no sampler of its own: both are fitted to the codes now and stored with the model.
    samplers = store_samplers(args.out / "ckpt.pt", data_dir=args.data_dir, progress=not args.no_progress)
    final = summary["final"]
    fids = ", ".join(f"{k} FID {v:.1f}" for k, v in samplers["fid"].items())
    print(
        f"done: {summary['epochs']} epochs, reconstruction PSNR {final['recon_psnr']:.2f} dB on the first "
        f"training digits; generator, codes and samplers in {args.out / 'ckpt.pt'} (default sampler "
        f"{samplers['default']}{': ' + fids if fids else ''}; sample it: companion sample)"
    )
    return 0


HANDLERS = {"glo": glo}
