"""``companion models``: the book's shipped models (``book:NAME``): list, re-check, and pack a run into one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from companion.options import OneLineParser

__all__ = ["HANDLERS", "add", "headline_text", "models_table"]


def add(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser(
        "models",
        help="the book's trained models, usable as book:NAME wherever a checkpoint is taken",
        description="The models behind the book's numbers, shipped in the repository (safetensors + manifest).",
    )
    msub = m.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    ls = msub.add_parser("list", help="name, size, digest, provenance and headline numbers of each")
    ls.add_argument("--markdown", action="store_true", help="one Markdown table (the book's page includes it)")
    c = msub.add_parser("check", help="re-measure each shipped model on a slice of the test set against its manifest")
    c.add_argument("names", nargs="*", help="models to check (default: all)")
    c.add_argument("--data-dir")
    p = msub.add_parser("pack", help="(maintainers) make book:NAME from a run's ckpt.pt, measuring its numbers")
    p.add_argument("name")
    p.add_argument("--checkpoint", required=True, type=Path, help="the run's ckpt.pt")
    p.add_argument("--generator", help="for an encoder: its generator (a ckpt.pt or book:NAME)")
    p.add_argument("--dtype", choices=("auto", "float32", "float16"), default="auto")
    p.add_argument("--commit", help="the commit the run was trained with (default: HEAD)")
    p.add_argument("--note", help="a sentence of provenance to keep (e.g. what else ran on the machine)")
    p.add_argument("--data-dir")
    p.add_argument("--device", default="auto")


def headline_text(man: dict[str, Any]) -> str:
    """A manifest's headline numbers in one line, as ``models list`` prints them."""
    h = man["headline"]
    if "bpd" in h:
        return f"{h['bpd']:.3f} bits/dim on {h['images']} test images"
    if "accuracy" in h:
        return f"test accuracy {h['accuracy']:.2%}"
    if "psnr" in h:
        return f"G(E(x)) PSNR {h['psnr']:.2f} dB on {h['images']} test digits"
    parts = []
    for law, b in h.items():
        parts.append(
            f"{LAWS.get(law, law)}: FID {b['fid']:.2f} over {b['samples']:,} samples "
            f"(sampling seeds {min(b['fid_seeds']):.2f}-{max(b['fid_seeds']):.2f}), {b['classes']}/10 classes"
            + (f", {b['blank']:,} blank of {b['samples']:,}" if "blank" in b else "")
        )
    return "; ".join(parts)


def models_table() -> str:
    """Every shipped model as a row: name, what it is, its headline numbers, size and where it came from."""
    from companion.bookmodels import BOOK, manifest
    from companion.chapters.common import duration, markdown_table

    rows = []
    for name in BOOK:
        man = manifest(name)
        secs = man["provenance"].get("train_seconds")
        rows.append({
            "name": f"`book:{name}`", "about": man["about"], "numbers": headline_text(man),
            "size": f"{man['bytes'] / 1e6:.1f} MB ({man['dtype']})",
            "trained": f"{duration(secs)}, commit {man['provenance']['commit']}" if secs else
                       f"commit {man['provenance']['commit']}",
        })  # fmt: skip
    total = sum(manifest(n)["bytes"] for n in BOOK)
    cols = [("name", "model"), ("about", "what it is"), ("numbers", "its numbers (measured when packed)"),
            ("size", "size"), ("trained", "training")]  # fmt: skip
    return markdown_table(rows, cols) + f"\n{len(rows)} models, {total / 1e6:.1f} MB in all.\n"


#: The latent laws by the names the manifests use.
LAWS = {"normal": "z ~ N(0, I)", "gaussian": "Gaussian over its codes", "imle": "IMLE mapper",
        "gmm": "mixture of Gaussians over its codes"}  # fmt: skip


def models(args: argparse.Namespace) -> int:
    from companion.bookmodels import BOOK, book_files, manifest
    from companion.errors import CompanionError

    if args.action == "list" and args.markdown:
        print(models_table(), end="")
        return 0
    if args.action == "list":
        total = 0
        for name in BOOK:
            weights, _ = book_files(name)
            if not weights.is_file():
                print(f"book:{name}  (not in this copy)")
                continue
            man = manifest(name)
            prov = man["provenance"]
            total += man["bytes"]
            minutes = f", {prov['train_seconds'] / 60:.0f} min of training" if prov.get("train_seconds") else ""
            print(f"book:{name}  {man['bytes'] / 1e6:.1f} MB {man['dtype']}  sha256 {man['sha256'][:16]}")
            print(f"  {man['about']}")
            print(f"  {headline_text(man)}")
            print(f"  from: {prov['command']} (commit {prov['commit']}{minutes}; {prov['machine']})")
        print(f"{total / 1e6:.1f} MB in all")
        return 0
    if args.action == "check":
        from companion.bookpack import verify

        names = args.names or list(BOOK)
        failed = 0
        for name in names:
            if name not in BOOK:
                raise CompanionError(f"unknown book model '{name}'; the book ships: {', '.join(BOOK)}")
            problems = verify(name, args.data_dir)
            print(("ok   " if not problems else "FAIL ") + f"book:{name}" + "".join(f"\n  {p}" for p in problems))
            failed += bool(problems)
        return 0 if not failed else 1
    from companion.bookpack import pack
    from companion.device import resolve_device

    man = pack(
        args.name, args.checkpoint, data_dir=args.data_dir, device=resolve_device(args.device), dtype=args.dtype,
        commit=args.commit, generator=args.generator, extra={"note": args.note} if args.note else None,
    )  # fmt: skip
    print(f"wrote book:{args.name}: {man['bytes'] / 1e6:.1f} MB {man['dtype']}; {headline_text(man)}")
    return 0


HANDLERS = {"models": models}
