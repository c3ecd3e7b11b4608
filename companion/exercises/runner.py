"""Checking a reader's answers: load a chapter's stub (or solution) module and run its exercises' checks."""

from __future__ import annotations

import importlib.util
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from companion.errors import CompanionError
from companion.exercises.checks import EXERCISES
from companion.exercises.registry import CHAPTERS, CheckFailed, Exercise

__all__ = ["Outcome", "check_chapter", "load_module", "stub_dir"]


@dataclass(frozen=True)
class Outcome:
    """The result of one check: ``passed``, ``failed`` or ``not done`` (the stub still raises)."""

    exercise: Exercise
    status: str
    message: str = ""


def stub_dir() -> Path:
    """The repository's ``exercises/`` folder (where the stubs live)."""
    return Path(__file__).resolve().parents[2] / "exercises"


def load_module(chapter: str, solutions: bool = False, folder: Path | None = None) -> ModuleType:
    """The student's stub module for ``chapter`` (from ``folder``, default `stub_dir`), or the solutions.

    Raises:
        CompanionError: unknown chapter, missing file, or a file that does not import.
    """
    if chapter not in CHAPTERS:
        raise CompanionError(f"unknown chapter '{chapter}'; choose from {', '.join(CHAPTERS)}")
    if solutions:
        return importlib.import_module(f"companion.exercises.solutions.{chapter}")
    path = (folder or stub_dir()) / f"{chapter}.py"
    if not path.is_file():
        raise CompanionError(f"no exercise file {path} (the stubs are in the repository's exercises/ folder)")
    spec = importlib.util.spec_from_file_location(f"exercises_{chapter}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the student's file: report where it broke, in one line
        line = traceback.extract_tb(exc.__traceback__)[-1].lineno
        raise CompanionError(f"{path} does not import: {type(exc).__name__}: {exc} (line {line})") from None
    return module


def check_chapter(chapter: str, module: ModuleType) -> list[Outcome]:
    """Run every coded exercise's check of ``chapter`` against ``module``."""
    out = []
    for ex in EXERCISES:
        if ex.chapter != chapter or not ex.coded:
            continue
        missing = [f for f in ex.functions if not callable(getattr(module, f, None))]
        if missing:
            out.append(Outcome(ex, "failed", f"the file has no function {missing[0]}()"))
            continue
        try:
            ex.check(module)
        except NotImplementedError:
            out.append(Outcome(ex, "not done", "still raises NotImplementedError"))
        except CheckFailed as exc:
            out.append(Outcome(ex, "failed", str(exc)))
        except Exception as exc:  # a bug in the answer: one line, with where it happened
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            out.append(
                Outcome(ex, "failed", f"raised {type(exc).__name__}: {exc} ({Path(tb.filename).name}:{tb.lineno})")
            )
        else:
            out.append(Outcome(ex, "passed"))
    return out
