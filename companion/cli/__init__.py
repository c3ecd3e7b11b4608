"""The ``companion`` command: one parser, a family module per chapter's commands.

Every user mistake ends in one line on stderr and exit status 2 (see `companion.errors`);
Ctrl-C ends with status 130 and says how to resume. Options of the settings dataclasses are
generated from their fields (`companion.options.add_options`) and validated by the dataclass
itself, and every output location is checked before any work starts.

Families (each module has ``add(sub)`` for its parsers and ``HANDLERS``, command -> function):

* `companion.cli.gan`: ``train``, ``sample``, ``classifier``;
* `companion.cli.inversion`: ``encoder``, ``invert``;
* `companion.cli.restoration`: ``restore``, ``degrade``;
* `companion.cli.glo`: ``glo train`` (chapter 5);
* `companion.cli.flow`: ``flow train``, ``flow score``, ``flow sample`` (Part II);
* `companion.cli.web`: ``export-web`` (the interactive figures' networks);
* `companion.cli.models`: ``models list|check|pack`` (the book's shipped models, ``book:NAME``);
* `companion.cli.exercises`: ``exercises``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from companion.cli import exercises, flow, gan, glo, inversion, models, restoration, web
from companion.errors import CompanionError
from companion.options import OneLineParser

__all__ = ["build_parser", "entry", "main"]

#: The command families, in the order ``companion --help`` lists them.
FAMILIES = (gan, inversion, restoration, glo, flow, web, models, exercises)

HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {k: v for f in FAMILIES for k, v in f.HANDLERS.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="companion", description="GAN Companion: the book's command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for family in FAMILIES:
        family.add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (errors: one line on stderr, status 2)."""
    args = build_parser().parse_args(argv)
    try:
        return HANDLERS[args.command](args)
    except CompanionError as exc:
        print(f"companion: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The console script and ``python -m companion``: `main`, then exit with its status.

    A process started by torchrun leaves without finalizing the interpreter (``os._exit`` after
    flushing its output; its files are written and closed by then). Why: gloo's worker threads can
    still be freeing the last collective's tensors when the interpreter finalizes, and a thread
    that needs the GIL then aborts the whole process with SIGABRT (see `companion.distributed.teardown`,
    which makes this rare; skipping finalization makes it impossible).
    """
    status = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
