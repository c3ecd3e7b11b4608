"""What every chapter script shares: options, compute-then-draw, caches, the command box.

A chapter is two functions: ``compute(args)`` returns its results (training and solving,
cached by content so a re-run or an interrupted run does no work twice) and
``draw(results, args)`` writes the figures and tables into the asset folder. `run_chapter`
wraps them: it parses the options, points a ``--dry-run`` at a throw-away asset folder (a dry
run never writes into ``docs/``), turns a `companion.errors.CompanionError` into one line
and exit status 2, and writes ``command.md`` (the command, date, machine and wall time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from companion.errors import CompanionError, OutputError
from companion.options import OneLineParser

__all__ = [
    "CHAPTER1_GENERATOR",
    "REPO_ROOT",
    "Chapter",
    "add_model_options",
    "cached",
    "chapter_parser",
    "content_key",
    "duration",
    "generated_by",
    "machine",
    "markdown_table",
    "other_chapters_model",
    "record_command",
    "run_chapter",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
#: Chapter 1's non-saturating seed-0 run: the generator of chapters 2, 3 and 5, Part II and the web figures.
CHAPTER1_GENERATOR = Path("runs") / "gan_losses" / "full" / "nonsaturating" / "seed0" / "ckpt.pt"


def duration(seconds: float) -> str:
    """A training or scoring time as a reader wants it: ``"42 s"`` under a minute, else ``"79 min"``.

    A quick preset's runs take seconds, and "0 min" told its reader nothing.
    """
    s = round(seconds)
    return f"{s} s" if s < 60 else f"{s / 60:.0f} min"


def chapter_parser(name: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every chapter takes."""
    p = OneLineParser(prog=f"python -m companion.chapters.{name}", description=description)
    p.add_argument("--data-dir", help="data folder (default: $COMPANION_DATA or ~/.cache/companion/data)")
    p.add_argument(
        "--assets", type=Path, default=None, help=f"where the figures and tables go (default docs/assets/{name})"
    )
    p.add_argument("--runs", type=Path, default=Path("runs") / name, help="where the training runs and caches go")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="tiny synthetic data, seconds: checks the pipeline only (writes under --runs, never into docs/)",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def add_model_options(p: argparse.ArgumentParser, generator_help: str = "chapter 1's GAN") -> None:
    """``--generator`` and ``--retrain`` for a chapter that uses a model another chapter trains."""
    p.add_argument(
        "--generator",
        type=Path,
        default=None,
        help=f"{generator_help}: a ckpt.pt or book:NAME (default: chapter 1's run in runs/ if you trained it, "
        "else the book's shipped book:gan-nonsaturating)",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train the other chapters' models this chapter needs (or finish their runs) instead of taking the "
        "book's shipped ones",
    )


def other_chapters_model(
    given: Path | str | None, run: Path, book: str, retrain: bool, train: Callable[[], Path]
) -> Path | str:
    """The checkpoint a chapter uses for a model that another chapter trains.

    In this order: the one given on the command line (a path or ``book:NAME``); the other chapter's
    own run when it exists (a reader who trained chapter 1 gets their own generator); with
    ``retrain``, that run trained now (``train()``, which returns its checkpoint); else the model
    the book ships (``book:NAME``), so that no chapter trains another chapter's model by default.
    """
    if given is not None:
        return given
    if run.is_file():
        return run
    if retrain:
        return train()
    from companion.bookmodels import shipped

    if not shipped(book):
        raise CompanionError(f"no {run} and book:{book} is not in this copy of the book: pass --retrain to train it")
    return f"book:{book}"


@dataclass(frozen=True)
class Chapter:
    """A chapter script.

    Attributes:
        name: Module name under ``companion.chapters`` (also the asset folder's name).
        description: One line for ``--help``.
        compute: ``compute(args) -> results``.
        draw: ``draw(results, args) -> (settings, note)``; writes into ``args.assets``; the
            settings and note go into ``command.md``.
        arguments: Adds the chapter's own options to the parser.
        assets: Default asset folder for parsed args (default ``docs/assets/<name>``).
    """

    name: str
    description: str
    compute: Callable[[argparse.Namespace], Any]
    draw: Callable[[Any, argparse.Namespace], tuple[dict[str, Any], str]]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    assets: Callable[[argparse.Namespace], Path] | None = None

    def main(self, argv: list[str] | None = None) -> int:
        """The script's entry point: `run_chapter` on this chapter."""
        return run_chapter(self, argv)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def run_chapter(chapter: Chapter, argv: list[str] | None = None) -> int:
    """Parse options, compute, draw, record the command; returns the exit status."""
    p = chapter_parser(chapter.name, chapter.description)
    if chapter.arguments is not None:
        chapter.arguments(p)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        if args.dry_run:
            if args.assets is not None and _inside(args.assets, DOCS):
                raise OutputError("--dry-run never writes into docs/; leave out --assets or point it elsewhere")
            args.assets = args.assets or args.runs / "dry" / "assets"
        elif args.assets is None:
            args.assets = chapter.assets(args) if chapter.assets else DOCS / "assets" / chapter.name
        from companion.fsutil import check_output_dir

        check_output_dir(args.assets, "--assets")
        check_output_dir(args.runs, "--runs")
        results = chapter.compute(args)
        args.assets.mkdir(parents=True, exist_ok=True)
        settings, note = chapter.draw(results, args)
        record_command(args.assets, chapter.name, argv, settings, time.perf_counter() - t0, note)
    except CompanionError as exc:
        print(f"{chapter.name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{chapter.name}: interrupted; run the same command again to continue from its caches", file=sys.stderr)
        return 130
    return 0


def content_key(**parts: Any) -> str:
    """A stable hash of JSON-able parts (settings, a generator's fingerprint): the identity of a cached result."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cached(path: Path, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()``'s dict, saved at ``path`` under ``key``; reloaded instead of recomputed when the key matches.

    The file holds tensors and plain data only (read back with ``weights_only=True``).
    """
    from companion.checkpoint import content_digest
    from companion.fsutil import atomic_write

    saved: dict[str, Any] = {}
    if path.is_file():
        try:
            saved = torch.load(path, weights_only=True)
        except Exception:  # a damaged cache is recomputed, never trusted
            saved = {}
        if saved.get("digest") != content_digest({k: v for k, v in saved.items() if k != "digest"}):
            saved = {}
    if saved.get("key") != key:
        body = {"key": key, **compute()}
        saved = {**body, "digest": content_digest(body)}
        atomic_write(path, lambda f: torch.save(saved, f))
    return {k: v for k, v in saved.items() if k not in ("key", "digest")}


def machine() -> str:
    """The compute this ran on, in words."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({torch.get_num_threads()} threads)"


def generated_by(command: str, seconds: float) -> str:
    """The line printed under a figure or table: the command, date, minutes, machine, torch and Python."""
    return (
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')} in {seconds / 60:.1f} min "
        f"({machine()}, torch {torch.__version__}, Python {platform.python_version()})."
    )


def record_command(
    assets: Path, name: str, argv: list[str] | None, settings: dict[str, Any], seconds: float, note: str = ""
) -> str:
    """Write ``command.md`` (the exact command, settings, machine, time) and return its text.

    Args:
        assets: The chapter's asset folder.
        name: The chapter module's name (``gan_losses`` for ``companion.chapters.gan_losses``).
        argv: The arguments the script was given (None: ``sys.argv[1:]``).
        settings: Settings to print.
        seconds: Wall-clock time of this invocation.
        note: An extra sentence (e.g. which runs were reused).
    """
    from companion.fsutil import atomic_write

    args = sys.argv[1:] if argv is None else list(argv)
    lines = [
        generated_by(shlex.join(["python", "-m", f"companion.chapters.{name}", *args]), seconds),
        "",
        "Settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()) + ".",
    ]
    if note:
        lines += ["", note]
    text = "\n".join(lines) + "\n"
    atomic_write(assets / "command.md", lambda f: f.write(text.encode()))
    return text


def markdown_table(
    rows: list[dict[str, Any]], columns: list[tuple[str, str]], bold: dict[str, str] | None = None
) -> str:
    """A Markdown table of ``rows``; ``columns`` are (key, header) pairs; floats get 3 significant places.

    Args:
        rows: One dict per row.
        columns: (key, header) pairs.
        bold: Column key -> ``"max"`` or ``"min"``: the best value of that column is set in bold.
    """

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return "" if v is None else str(v)

    best: dict[str, Any] = {}
    for key, how in (bold or {}).items():
        values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        if values:
            best[key] = max(values) if how == "max" else min(values)

    def cell(r: dict[str, Any], k: str) -> str:
        text = fmt(r.get(k))
        return f"**{text}**" if k in best and r.get(k) == best[k] and text else text

    head = "| " + " | ".join(h for _, h in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(r, k) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body]) + "\n"


def write_text(path: Path, text: str) -> None:
    """A text asset (table, fragment), atomically."""
    from companion.fsutil import atomic_write

    atomic_write(path, lambda f: f.write(text.encode()))
