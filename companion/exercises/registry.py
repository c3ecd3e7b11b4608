"""What an exercise is (`Exercise`), how a check says no (`CheckFailed`), and the chapters that have them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from companion.book import TITLES

__all__ = ["CHAPTERS", "CheckFailed", "Exercise"]

#: Chapter module names, in book order, with their titles.
CHAPTERS = TITLES


class CheckFailed(Exception):
    """A check's verdict: what was expected, in one or two lines."""


@dataclass(frozen=True)
class Exercise:
    """One exercise.

    Attributes:
        chapter: Key of `CHAPTERS`.
        number: Its number within the chapter.
        title: One line.
        functions: The functions the student writes (empty for an open exercise).
        check: ``check(module)`` raises `CheckFailed` when the answer is wrong (None: open exercise).
        task: For open exercises, the experiment to run and what to look for.
    """

    chapter: str
    number: int
    title: str
    functions: tuple[str, ...] = ()
    check: Callable[[ModuleType], None] | None = None
    task: str = ""

    @property
    def coded(self) -> bool:
        return self.check is not None
