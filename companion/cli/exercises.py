"""``companion exercises``: list the exercises and check a reader's answers."""

from __future__ import annotations

import argparse
from pathlib import Path

from companion.options import OneLineParser

__all__ = ["HANDLERS", "add"]


def add(sub: argparse._SubParsersAction) -> None:
    from companion.exercises import CHAPTERS

    e = sub.add_parser("exercises", help="the exercises of every chapter, and checks of your answers")
    esub = e.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    esub.add_parser("list", help="every exercise, by chapter")
    c = esub.add_parser("check", help="check your answers in exercises/CHAPTER.py")
    c.add_argument("chapter", help=f"one of {', '.join(CHAPTERS)}, or all")
    c.add_argument("--solutions", action="store_true", help="check the reference solutions instead")
    c.add_argument("--dir", type=Path, help="folder holding your exercise files (default: the repository's exercises/)")


def exercises(args: argparse.Namespace) -> int:
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


HANDLERS = {"exercises": exercises}
