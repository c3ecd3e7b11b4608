"""The "Exercises" section of each chapter page, generated from the exercise table (so it cannot drift).

Each coded exercise names the functions to write and the check command; its solution is included
from the solution file by the book's snippet syntax, inside a collapsed block. Open exercises give
the experiment and what to look for.

    python -m companion.exercises.pages      # rewrite docs/exercises/<chapter>.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from companion.exercises.checks import EXERCISES
from companion.exercises.hebrew import HEBREW
from companion.exercises.registry import CHAPTERS

__all__ = ["page_fragment"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "exercises"
SOLUTIONS = Path(__file__).resolve().parent / "solutions"


def _regions(chapter: str, functions: tuple[str, ...]) -> list[str]:
    text = (SOLUTIONS / f"{chapter}.py").read_text()
    return [f for f in functions if re.search(rf"\[start:{f}\]", text)]


def page_fragment(chapter: str, lang: str = "en") -> str:
    """Markdown for the exercises of ``chapter``, in English or in Hebrew (``lang="he"``, from `HEBREW`)."""
    he = lang == "he"
    check = ["", "```bash", f"companion exercises check {chapter}", "```", ""]
    if he:
        lines = [f"כתבו את התשובות ב-`exercises/{chapter}.py` (ה-docstring של כל פונקציה נותן את המשוואה ואת "
                 "הצורות), ואז בדקו אותן:", *check,
                 "בדיקה שנכשלת אומרת בשורה או שתיים מה היה צפוי. הפתרונות למטה, מקופלים.", ""]  # fmt: skip
    else:
        lines = ["Write your answers in `exercises/" + chapter + ".py` (each function's docstring gives the equation "
                 "and the shapes), then check them:", *check,
                 "A failed check says in a line or two what was expected. The solutions are below, folded.",
                 ""]  # fmt: skip
    for ex in (e for e in EXERCISES if e.chapter == chapter):
        title, task = HEBREW[(chapter, ex.number)] if he else (ex.title, ex.task)
        lines.append(f"**{ex.number}. {title}.**")
        if ex.coded:
            names = ", ".join(f"`{f}()`" for f in ex.functions)
            write = f" כתבו את {names}." if he else f" Write {names}."
            solution = f"פתרון לתרגיל {ex.number}" if he else f"Solution to {ex.number}"
            lines += [write, "", f'??? success "{solution}"', ""]
            for region in _regions(chapter, ex.functions):
                path = f"companion/exercises/solutions/{chapter}.py:{region}"
                lines += ["    ```python", f'    --8<-- "{path}"', "    ```", ""]
        else:
            lines += [f" *תרגיל פתוח, בלי בדיקה.* {task}" if he else f" *Open exercise, no check.* {task}", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    DOCS.mkdir(parents=True, exist_ok=True)
    for chapter in CHAPTERS:
        (DOCS / f"{chapter}.md").write_text(page_fragment(chapter))
        (DOCS / f"{chapter}.he.md").write_text(page_fragment(chapter, "he"))
        print(f"wrote docs/exercises/{chapter}.md and {chapter}.he.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
