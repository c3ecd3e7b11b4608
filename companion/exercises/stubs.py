"""Write the student stubs from the reference solutions: same imports, signatures and docstrings, no bodies.

The stubs in ``exercises/`` are generated, so they cannot drift from the solutions the checks are
proven against (``tests/test_exercises.py`` regenerates them and compares):

    python -m companion.exercises.stubs          # rewrite exercises/*.py from the solutions
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from companion.exercises.registry import CHAPTERS
from companion.exercises.runner import stub_dir

__all__ = ["stub_source"]

SOLUTIONS = Path(__file__).resolve().parent / "solutions"
HEADER = '''"""{title}: exercises. Replace each `raise NotImplementedError` with your answer.

Check your answers with:  companion exercises check {chapter}
The reference solutions are on the chapter's page (collapsed) and in companion/exercises/solutions/.
"""
'''


def stub_source(chapter: str) -> str:
    """The stub module for ``chapter``: the solution with every function body after its docstring
    replaced by ``raise NotImplementedError``, its module docstring by instructions, and the book's
    snippet markers dropped."""
    source = (SOLUTIONS / f"{chapter}.py").read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    for node in sorted((n for n in tree.body if isinstance(n, ast.FunctionDef)), key=lambda n: -n.lineno):
        first = node.body[1] if ast.get_docstring(node) and len(node.body) > 1 else node.body[0]
        if ast.get_docstring(node) and len(node.body) == 1:
            continue
        lines[first.lineno - 1 : node.end_lineno] = ["    raise NotImplementedError"]
    doc = tree.body[0]
    assert isinstance(doc, ast.Expr), "a solution module starts with its docstring"
    lines[doc.lineno - 1 : doc.end_lineno] = HEADER.format(title=CHAPTERS[chapter], chapter=chapter).splitlines()
    kept = [ln for ln in lines if not ln.lstrip().startswith("# --8<--")]
    text = "\n".join(kept) + "\n"
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return text.rstrip("\n") + "\n"


def main() -> int:
    for chapter in CHAPTERS:
        (stub_dir() / f"{chapter}.py").write_text(stub_source(chapter))
        print(f"wrote exercises/{chapter}.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
