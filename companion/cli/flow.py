"""``companion flow``: train a Glow, score images in bits per dimension, sample (Part II, chapter 1)."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from companion.device import DEVICES
from companion.options import (
    OneLineParser,
    add_options,
    check_choice,
    check_finite_positive,
    check_positive,
    check_seed,
    from_args,
    given_options,
)

__all__ = ["HANDLERS", "ScoreConfig", "add"]


@dataclass(frozen=True)
class ScoreConfig:
    """How ``companion flow score`` estimates bits/dim: the mean over ``draws`` dequantisation draws."""

    draws: int = 4
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_positive(self, "draws")
        check_seed(self)
        check_choice("device", self.device, DEVICES)


@dataclass(frozen=True)
class FlowSampleConfig:
    """What ``companion flow sample`` draws: ``n`` images from z ~ N(0, T^2 I) seeded with ``seed``."""

    n: int = 64
    temperature: float = 1.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_positive(self, "n")
        check_finite_positive(self, "temperature")
        check_seed(self)
        check_choice("device", self.device, DEVICES)


def add(sub: argparse._SubParsersAction) -> None:
    from companion.density import FLOW_PRESETS, FlowConfig

    f = sub.add_parser("flow", help="a Glow: exact bits per dimension of images (Part II, chapter 1)")
    fsub = f.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    t = fsub.add_parser(
        "train", help="train a Glow by maximum likelihood", description="Every FlowConfig field is an option."
    )
    t.add_argument("--out", required=True, type=Path, help="run folder")
    t.add_argument("--preset", help=f"one of {', '.join(FLOW_PRESETS)}")
    t.add_argument("--data-dir", help="data folder (default: $COMPANION_DATA or ~/.cache/companion/data)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    t.add_argument("--overwrite", action="store_true", help="replace the run in --out (only its own files)")
    t.add_argument("--no-progress", action="store_true")
    add_options(t, FlowConfig)

    s = fsub.add_parser("score", help="bits per dimension of each image (uint8 or float in [0, 1])")
    s.add_argument("--checkpoint", required=True, type=Path, help="a flow's ckpt.pt")
    s.add_argument("--images", required=True, type=Path, help=".npy (uint8 or float in [0,1]) or a folder of PNGs")
    s.add_argument("--out", required=True, type=Path, help="bits/dim per image, float64 .npy (N,)")
    add_options(s, ScoreConfig, choices={"device": DEVICES})

    m = fsub.add_parser("sample", help="draw images from a flow (uint8 0..255, (N, C, H, W))")
    m.add_argument("--checkpoint", required=True, type=Path)
    m.add_argument("--out", required=True, type=Path, help="output .npy, uint8 0..255, (N, C, H, W)")
    add_options(m, FlowSampleConfig, choices={"device": DEVICES})


def _train(args: argparse.Namespace) -> int:
    from companion.density import FlowConfig, make_flow_config
    from companion.flowtrain import run_flow_training

    explicit = given_options(FlowConfig, args)
    cfg = make_flow_config(args.preset, **{k: getattr(args, k) for k in explicit})
    try:
        summary = run_flow_training(
            cfg, args.out, data_dir=args.data_dir, resume=args.resume, overwrite=args.overwrite, explicit=explicit,
            progress=not args.no_progress, command="companion " + shlex.join(sys.argv[1:]),
        )  # fmt: skip
    except KeyboardInterrupt:
        print(f"interrupted: continue with: companion flow train --out {args.out} --resume", file=sys.stderr)
        return 130
    if not summary:  # a rank other than 0 of a torchrun: rank 0 reports
        return 0
    final = summary["final"]
    held = (
        f", first {cfg.eval_images} test images {final['test_bpd']:.3f} bits/dim (one draw; "
        "`companion flow score` for all of them)"
        if "test_bpd" in final
        else ""
    )
    print(f"done: {summary['epochs']} epochs, training {final['bpd']:.3f} bits/dim{held}; in {args.out}")
    return 0


def _score(args: argparse.Namespace) -> int:
    import numpy as np

    from companion.density import load_flow, score_bpd
    from companion.device import resolve_device
    from companion.fsutil import atomic_write, check_output_file
    from companion.imageio import check_images, read_images

    cfg = from_args(ScoreConfig, args)
    check_output_file(args.out, ".npy")
    if args.out.resolve() == args.images.resolve():
        from companion.errors import CompanionError

        raise CompanionError("--out would overwrite the input images; choose another output name")
    device = resolve_device(cfg.device)
    flow, spec, _ = load_flow(args.checkpoint, device)
    x = check_images(read_images(args.images), (spec.channels, spec.image_size, spec.image_size))
    bpd = score_bpd(flow, x, draws=cfg.draws, seed=cfg.seed, device=device).numpy()
    atomic_write(args.out, lambda f: np.save(f, bpd))
    print(
        f"wrote {args.out}: bits/dim of {len(bpd)} images, mean {bpd.mean():.4f} "
        f"(each the mean of {cfg.draws} dequantisation draws, seed {cfg.seed})"
    )
    return 0


def _sample(args: argparse.Namespace) -> int:
    from companion.density import load_flow, sample_flow
    from companion.device import resolve_device
    from companion.fsutil import check_output_file
    from companion.imageio import write_npy

    cfg = from_args(FlowSampleConfig, args)
    check_output_file(args.out, ".npy")
    device = resolve_device(cfg.device)
    flow, _, _ = load_flow(args.checkpoint, device)
    images = sample_flow(flow, cfg.n, cfg.temperature, cfg.seed, device=device)
    write_npy(images, args.out)
    print(f"wrote {args.out}: uint8 {tuple(images.shape)} at temperature {cfg.temperature:g}")
    return 0


def flow(args: argparse.Namespace) -> int:
    return {"train": _train, "score": _score, "sample": _sample}[args.action](args)


HANDLERS = {"flow": flow}
