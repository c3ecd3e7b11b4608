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

    r = sub.add_parser(
        "restore",
        help="restore degraded images with a GAN prior (chapter 3)",
        description="Restore --observed images as given, or degrade --clean images here and score the result.",
    )
    r.add_argument("--generator", required=True, type=Path)
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
    r.add_argument("--encoder", type=Path, help="optional encoder: start the optimisation at E(degraded view)")
    r.add_argument("--data-loss", choices=("mse", "l1"), help="default: l1 for inpainting, mse otherwise")
    r.add_argument("--device", default="auto", help=_DEVICE_HELP)
    add_options(r, InversionConfig, skip=("loss",))

    d = sub.add_parser(
        "degrade",
        help="degrade clean images and save the observation as a user would have it (for restore --observed)",
    )
    d.add_argument("--task", required=True, choices=CLI_TASKS)
    d.add_argument("--images", required=True, type=Path, help="clean images (.npy or PNG folder)")
    d.add_argument("--out", required=True, type=Path, help="folder: observed/ PNGs or observed.npy, masks, matrix")
    d.add_argument("--format", choices=("png", "npy"), default="png")
    d.add_argument("--sigma", type=float, default=0.3)
    d.add_argument("--mask", default="box14", help=f"one of {', '.join(MASKS)} or FILE.npy")
    d.add_argument("--factor", type=int, default=2)
    d.add_argument("--m", type=int, default=100)
    d.add_argument("--seed", type=int, default=0, help="noise seed (the same as restore --clean --seed)")
    d.add_argument("--image-size", type=int, default=28, help="the generator's image size")


def _add_exercises(sub: argparse._SubParsersAction) -> None:
    from companion.exercises import CHAPTERS

    e = sub.add_parser("exercises", help="the exercises of every chapter, and checks of your answers")
    esub = e.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    esub.add_parser("list", help="every exercise, by chapter")
    c = esub.add_parser("check", help="check your answers in exercises/CHAPTER.py")
    c.add_argument("chapter", help=f"one of {', '.join(CHAPTERS)}, or all")
    c.add_argument("--solutions", action="store_true", help="check the reference solutions instead")
    c.add_argument("--dir", type=Path, help="folder holding your exercise files (default: the repository's exercises/)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="companion", description="GAN Companion: the book's command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    _add_train(sub)
    _add_sample(sub)
    _add_classifier(sub)
    _add_inversion(sub)
    _add_restore(sub)
    _add_exercises(sub)
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
    if not summary:  # a rank other than 0 of a torchrun: rank 0 reports
        return 0
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


def _compare_png(rows: list, path: Path, labels: list[str]) -> None:
    """A PNG grid: one row per kind (observed, restored, clean), one column per image (at most 12)."""
    from companion.artifacts import new_figure, save_figure

    k = min(12, rows[0].shape[0])
    fig, axes = new_figure(k, len(rows), 1.0, 1.05)
    for r, (label, imgs) in enumerate(zip(labels, rows)):
        for c in range(k):
            ax = axes[r][c]
            im = imgs[c].detach().float().cpu().clamp(0, 1)
            ax.imshow((im[0] if im.shape[0] == 1 else im.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    save_figure(fig, path, dpi=100)


def _restore_args(args: argparse.Namespace) -> None:
    """Options that belong to the other mode are refused, not silently ignored."""
    if args.observed is not None:
        if args.task == "cs" and args.matrix is None:
            raise CompanionError("--task cs --observed needs --matrix")
        if args.task == "inpaint" and args.mask is None:
            raise CompanionError("--task inpaint --observed needs --mask (a .npy, a .png or a folder of .png masks)")
        if args.task == "inpaint" and args.mask is not None and not Path(args.mask).exists():
            raise CompanionError(f"--mask {args.mask} does not exist (named masks such as box14 are for --clean)")
    elif args.matrix is not None:
        raise CompanionError("--matrix is for --observed measurements; with --clean, --m draws the matrix")


def _cmd_restore(args: argparse.Namespace) -> int:
    import torch

    from companion.device import resolve_device
    from companion.experiment import load_generator
    from companion.fsutil import check_output_file
    from companion.inversion import InversionConfig, check_images, load_encoder
    from companion.observed import load_observation, write_like
    from companion.restoration import cli_operator, restore

    cfg = from_args(InversionConfig, args)
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
        outs = _outputs(args.out, inputs, *(("_degraded.npy",) if args.clean else ()))
    if args.compare is not None:
        check_output_file(args.compare, ".png", what="--compare")
    device = resolve_device(args.device)
    G, spec, _ = load_generator(args.generator, device)
    shape = spec.image_shape
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
            factor=args.factor or 2, m=args.m,
        )  # fmt: skip
        y = op.degrade(x, seed=cfg.seed)
        names = sorted(p.name for p in args.clean.iterdir() if p.suffix.lower() == ".png") if png_in else None
    z0 = None
    if args.encoder:
        with torch.no_grad():
            z0 = load_encoder(args.encoder, G, device)(op.view(y))
    res = restore(G, y, op, cfg, data_loss=args.data_loss, z0=z0)
    write_like(res.images, outs[0], names)
    line = f"wrote {outs[0]} ({res.images.shape[0]} images, {args.task})"
    if args.clean is not None:
        if not png_in:
            write_like(op.view(y), outs[1], None)
            line += f" and {outs[1].name}"
        line += f"; degraded: {_psnr_line(op.view(y), x)}; restored: {_psnr_line(res.images, x)}"
    elif args.task == "denoise":
        resid = float((res.images - y).square().mean().sqrt())
        line += f"; residual RMS {resid:.3f} against sigma {op.sigma:.3f}"
        if op.sigma > 0 and resid > 1.5 * op.sigma:
            line += " (well above sigma: the generator does not represent these images well)"
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


def _cmd_degrade(args: argparse.Namespace) -> int:
    from companion.imageio import read_images
    from companion.inversion import check_images
    from companion.observed import degrade_to_files
    from companion.restoration import cli_operator

    if args.out.exists() and any(args.out.iterdir()):
        raise CompanionError(f"{args.out} is not empty; degrade writes into a new or empty folder")
    side = args.image_size
    x = read_images(args.images)
    channels = x.shape[1] if x.ndim == 4 else 1
    x = check_images(x, (channels, side, side))
    op = cli_operator(args.task, x.shape[0], (channels, side, side), sigma=args.sigma, mask=args.mask,
                      factor=args.factor, m=args.m)  # fmt: skip
    y = op.degrade(x, seed=args.seed)
    written = degrade_to_files(op, y, args.out, args.format)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _cmd_exercises(args: argparse.Namespace) -> int:
    from companion.exercises import CHAPTERS, EXERCISES, check_chapter, load_module

    if args.action == "list":
        for chapter, title in CHAPTERS.items():
            print(title)
            for ex in (e for e in EXERCISES if e.chapter == chapter):
                kind = f"write {', '.join(f + '()' for f in ex.functions)}" if ex.coded else "open: an experiment"
                print(f"  {ex.number}. {ex.title}  [{kind}]")
        return 0
    chapters = list(CHAPTERS) if args.chapter == "all" else [args.chapter]
    failed = 0
    for chapter in chapters:
        module = load_module(chapter, args.solutions, args.dir)
        for o in check_chapter(chapter, module):
            mark = {"passed": "ok  ", "failed": "FAIL", "not done": "todo"}[o.status]
            line = f"{mark} {chapter} {o.exercise.number}. {o.exercise.title}"
            print(line + (f": {o.message}" if o.message else ""))
            failed += o.status != "passed"
    print(f"{'all passed' if not failed else f'{failed} not passed'}")
    return 0 if not failed else 1


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
        "degrade": _cmd_degrade,
        "exercises": _cmd_exercises,
    }
    try:
        return handlers[args.command](args)
    except CompanionError as exc:
        print(f"companion: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
