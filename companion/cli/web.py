"""``companion export-web``: a generator (and its encoder) as files the book's interactive figures read."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["HANDLERS", "add"]


def add(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "export-web",
        help="write a generator (and its chapter-2 encoder) for the book's interactive figures",
        description="BatchNorm folded into the convolutions, weights as float16 (the encoder's large linear "
        "layer as int8), a manifest: format companion-web/1, documented in the book.",
    )
    e.add_argument("--checkpoint", required=True, type=Path, help="a GAN or GLO checkpoint")
    e.add_argument("--encoder", type=Path, help="chapter 2's encoder for that generator (for 'draw a digit')")
    e.add_argument("--out", required=True, type=Path, help="folder (new, empty, or one this command wrote)")
    e.add_argument("--rank", type=int, default=0, help="factorise the encoder's large linear layer to this rank")
    e.add_argument("--data-dir", help="data folder: training images give the explorer's principal directions")


def export_web(args: argparse.Namespace) -> int:
    from companion.data import load_dataset
    from companion.encoder import load_encoder
    from companion.errors import CompanionError
    from companion.experiment import load_generator
    from companion.fsutil import check_output_dir
    from companion.webexport import export_web as export

    if args.rank < 0:
        raise CompanionError(f"--rank must be 0 or positive, got {args.rank}")
    if args.out.exists() and any(p.name not in ("manifest.json", "weights.bin") for p in args.out.iterdir()):
        raise CompanionError(f"{args.out} holds other files; export-web writes into a new folder or its own")
    check_output_dir(args.out)
    G, _, gcfg = load_generator(args.checkpoint)  # refuse a bad checkpoint before anything is written
    data = None
    if args.encoder is not None:
        load_encoder(args.encoder, G)  # refuses an encoder of another generator
        data = load_dataset(gcfg.get("dataset", "mnist"), "train", args.data_dir).images[:5000]
    m = export(args.checkpoint, args.out, args.encoder, rank=args.rank, data=data)
    parts = "generator" + (" and encoder" if "encoder" in m else "")
    print(f"wrote {args.out}: {parts}, {m['weights']['bytes'] / 1e6:.2f} MB of weights (format {m['format']})")
    return 0


HANDLERS = {"export-web": export_web}
