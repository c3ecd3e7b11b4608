"""The restoration commands of chapter 3: ``restore`` (``--clean`` or ``--observed``) and ``degrade``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from companion.cli.common import DEVICE_HELP, check_outputs, psnr_line
from companion.errors import CompanionError
from companion.options import add_options, check_nonnegative, check_positive, check_seed, from_args

__all__ = ["HANDLERS", "DegradeConfig", "add"]


@dataclass(frozen=True)
class DegradeConfig:
    """How ``companion degrade`` degrades clean images (the same operators as ``restore --clean``)."""

    sigma: float = 0.3  # denoise: noise std in [0, 1] units
    mask: str = "box14"  # inpaint: a named mask or FILE.npy
    factor: int = 2  # superres: downsampling factor
    m: int = 100  # cs: number of Gaussian measurements
    seed: int = 0  # noise seed (the same as restore --clean --seed)
    image_size: int = 28  # the generator's image size

    def __post_init__(self) -> None:
        check_nonnegative(self, "sigma")
        check_positive(self, "factor", "m", "image_size")
        check_seed(self)


def add(sub: argparse._SubParsersAction) -> None:
    from companion.inversion import InversionConfig
    from companion.restoration import CLI_TASKS, MASKS

    r = sub.add_parser(
        "restore",
        help="restore degraded images with a generative prior: a GAN, GLO or a Glow (chapter 3)",
        description="Restore --observed images as given, or degrade --clean images here and score the result.",
    )
    r.add_argument("--generator", required=True, type=Path, help="the prior: a GAN, GLO or flow ckpt.pt, or book:NAME")
    r.add_argument("--task", required=True, choices=CLI_TASKS)
    given = r.add_mutually_exclusive_group(required=True)
    given.add_argument("--observed", type=Path, help="degraded images (.npy or PNG folder) or CS measurements (.npy)")
    given.add_argument(
        "--clean", "--images", dest="clean", type=Path, help="clean images, degraded here (seeded) and scored"
    )
    r.add_argument("--sigma", type=float, help="denoise: noise std in [0, 1] units (--clean: default 0.3; "
                   "--observed: estimated when omitted)")  # fmt: skip
    r.add_argument(
        "--mask",
        help=f"inpaint: {' | '.join(MASKS)} (--clean) or FILE.npy (1 = known) | FILE.png / FOLDER (black = missing)",
    )
    r.add_argument(
        "--factor", type=int, help="superres: downsampling factor (--clean: default 2; --observed: inferred)"
    )
    r.add_argument("--m", type=int, default=100, help="cs --clean: number of Gaussian measurements")
    r.add_argument("--matrix", type=Path, help="cs --observed: the (m, D) sensing matrix .npy")
    r.add_argument("--out", required=True, type=Path, help="restored images: .npy, or a folder for PNG input")
    r.add_argument("--compare", type=Path, help="also write a PNG: observed | restored (| clean), one column per image")
    r.add_argument(
        "--encoder", type=Path, help="optional encoder (GAN, GLO): start the optimisation at E(degraded view)"
    )
    r.add_argument("--data-loss", choices=("mse", "l1"), help="default: l1 for inpainting, mse otherwise")
    r.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_options(r, InversionConfig, skip=("loss",))

    d = sub.add_parser(
        "degrade",
        help="degrade clean images and save the observation as a user would have it (for restore --observed)",
    )
    d.add_argument("--task", required=True, choices=CLI_TASKS)
    d.add_argument("--images", required=True, type=Path, help="clean images (.npy or PNG folder)")
    d.add_argument("--out", required=True, type=Path, help="folder: observed/ PNGs or observed.npy, masks, matrix")
    d.add_argument("--format", choices=("png", "npy"), default="png")
    add_options(d, DegradeConfig)


def _compare_png(rows: list, path: Path, labels: list[str]) -> None:
    """A PNG grid: one row per kind (observed, restored, clean), one column per image (at most 12)."""
    from companion.artifacts import new_figure, save_figure
    from companion.pixels import to_unit

    k = min(12, rows[0].shape[0])
    fig, axes = new_figure(k, len(rows), 1.0, 1.05)
    for r, (label, imgs) in enumerate(zip(labels, rows)):
        for c in range(k):
            ax = axes[r][c]
            im = to_unit(imgs[c].detach().cpu()).clamp(0, 1)
            ax.imshow((im[0] if im.shape[0] == 1 else im.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    save_figure(fig, path, dpi=100)


def _restore_args(args: argparse.Namespace) -> None:
    """Options that belong to the other mode are refused, not silently ignored; given values are checked."""
    if args.factor is not None and args.factor <= 0:
        raise CompanionError(f"--factor must be positive, got {args.factor}")
    if args.observed is not None:
        if args.task == "cs" and args.matrix is None:
            raise CompanionError("--task cs --observed needs --matrix")
        if args.task == "inpaint" and args.mask is None:
            raise CompanionError("--task inpaint --observed needs --mask (a .npy, a .png or a folder of .png masks)")
        if args.task == "inpaint" and args.mask is not None and not Path(args.mask).exists():
            raise CompanionError(f"--mask {args.mask} does not exist (named masks such as box14 are for --clean)")
    elif args.matrix is not None:
        raise CompanionError("--matrix is for --observed measurements; with --clean, --m draws the matrix")


def restore(args: argparse.Namespace) -> int:
    import torch

    from companion.device import resolve_device
    from companion.encoder import load_encoder
    from companion.fsutil import check_output_file
    from companion.imageio import check_images
    from companion.inversion import InversionConfig
    from companion.observed import load_observation, write_like
    from companion.options import given_options
    from companion.priors import load_prior
    from companion.restoration import cli_operator

    cfg = from_args(InversionConfig, args)  # validates every given option before any work
    _restore_args(args)
    source = args.observed or args.clean
    inputs = [source, args.generator, args.encoder, args.matrix]
    inputs += [Path(args.mask)] if args.mask and Path(args.mask).exists() else []
    png_in = source.is_dir()
    if png_in:
        from companion.fsutil import check_output_dir

        if args.out.resolve() == source.resolve() or (args.mask and args.out.resolve() == Path(args.mask).resolve()):
            raise CompanionError("--out would overwrite the input folder; choose another output folder")
        check_output_dir(args.out)
        outs = [args.out]
    else:
        outs = check_outputs(args.out, inputs, *(("_degraded.npy",) if args.clean else ()))
    if args.compare is not None:
        check_output_file(args.compare, ".png", what="--compare")
    device = resolve_device(args.device)
    prior = load_prior(args.generator, device)
    if args.encoder and prior.kind == "flow":
        raise CompanionError("a flow needs no --encoder: it starts at its own exact code of the degraded view")
    given = {k: getattr(cfg, k) for k in given_options(InversionConfig, args)}
    shape = prior.shape
    x = None
    notes: list[str] = []
    if args.observed is not None:
        obs = load_observation(
            args.task, args.observed, shape, sigma=args.sigma, mask=args.mask, factor=args.factor, matrix=args.matrix
        )
        op, y, names, notes = obs.op, obs.y.to(device), obs.names, obs.notes
    else:
        from companion.imageio import read_images

        x = check_images(read_images(args.clean), shape).to(device)
        op = cli_operator(
            args.task, x.shape[0], shape,
            sigma=0.3 if args.sigma is None else args.sigma, mask=args.mask or "box14",
            factor=2 if args.factor is None else args.factor, m=args.m,
        )  # fmt: skip
        y = op.degrade(x, seed=cfg.seed)
        names = sorted(p.name for p in args.clean.iterdir() if p.suffix.lower() == ".png") if png_in else None
    # The prior's own settings (a flow's gamma for this degradation, its step size), then the options given.
    cfg = prior.config(op, **given)
    kw = {}
    if args.encoder:
        with torch.no_grad():
            kw["z0"] = load_encoder(args.encoder, prior.decoder, device)(op.view(y))
    res = prior.restore(y, op, cfg, data_loss=args.data_loss, **kw)
    write_like(res.images, outs[0], names)
    line = f"wrote {outs[0]} ({res.images.shape[0]} images, {args.task})"
    if prior.kind == "flow":
        line += f"; prior weight {cfg.prior_weight:g} ({_gamma_source(op, prior, 'prior_weight' in given)})"
    if args.clean is not None:
        if not png_in:
            write_like(op.view(y), outs[1], None)
            line += f" and {outs[1].name}"
        line += f"; degraded: {psnr_line(op.view(y), x)}; restored: {psnr_line(res.images, x)}"
    elif args.task == "denoise":
        resid = float((res.images - y).square().mean().sqrt())
        line += f"; residual RMS {resid:.3f} against sigma {op.sigma:.3f}"
        if op.sigma > 0 and resid > 1.5 * op.sigma:
            line += " (well above sigma: the generator does not represent these images well)"
        elif prior.kind == "flow" and op.sigma > 0 and resid < 0.5 * op.sigma:
            line += " (well below sigma: the flow fits part of the noise; a larger --prior-weight smooths more)"
    if args.compare is not None:
        rows, labels = [op.view(y), res.images], ["observed", "restored"]
        if x is not None:
            rows, labels = [*rows, x], [*labels, "clean"]
        _compare_png(rows, args.compare, labels)
        line += f"; comparison in {args.compare}"
    for note in notes:
        print(f"note: {note}")
    print(line)
    return 0


def _gamma_source(op: Any, prior: Any, given: bool) -> str:
    """Where a flow's prior weight came from, for the command's line."""
    from companion.priors import flow_gamma

    if given:
        return "--prior-weight"
    _, tuned = flow_gamma(op, prior.gamma)
    if tuned is None:
        return "the default: no degradation of this kind was tuned"
    kind, level = tuned
    what = {"denoise": f"sigma {level:g}", "inpaint": f"{level:.0%} of pixels missing", "superres": f"{level:g}x",
            "cs": f"m = {level:g}"}[kind]  # fmt: skip
    return f"chosen on validation digits for {kind}, {what}"


def degrade(args: argparse.Namespace) -> int:
    from companion.imageio import check_images, read_images
    from companion.observed import degrade_to_files
    from companion.restoration import cli_operator

    cfg = from_args(DegradeConfig, args)
    if args.out.exists() and any(args.out.iterdir()):
        raise CompanionError(f"{args.out} is not empty; degrade writes into a new or empty folder")
    side = cfg.image_size
    x = read_images(args.images)
    channels = x.shape[1] if x.ndim == 4 else 1
    x = check_images(x, (channels, side, side))
    op = cli_operator(args.task, x.shape[0], (channels, side, side), sigma=cfg.sigma, mask=cfg.mask,
                      factor=cfg.factor, m=cfg.m)  # fmt: skip
    y = op.degrade(x, seed=cfg.seed)
    written = degrade_to_files(op, y, args.out, args.format)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


HANDLERS = {"restore": restore, "degrade": degrade}
