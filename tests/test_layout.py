"""The package's shape: modules a reader can take in (one job, under 450 lines), and imports that only go down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "companion"
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every companion module ``path`` imports, at the top or inside a function (lazy imports count)."""
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("companion"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("companion")]
        deps |= {n for n in names if n in known}
    return deps


MODULES = _modules()
GRAPH = {m: _imports(p, set(MODULES)) - {m} for m, p in MODULES.items()}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_under_the_size_limit(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it along its seams"


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(GRAPH[u]):
            if state.get(v) == 1:
                return [*stack[stack.index(v) :], v]
            if not state.get(v) and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for m in sorted(GRAPH):
        if not state.get(m) and (found := visit(m)):
            return found
    return None


def test_no_import_circle() -> None:
    assert _cycle() is None, " -> ".join(_cycle())


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    """Negative control: with a back edge added, the same search reports the circle."""
    GRAPH["companion.exercises.registry"].add("companion.exercises.runner")
    try:
        assert _cycle() is not None
    finally:
        GRAPH["companion.exercises.registry"].discard("companion.exercises.runner")


@pytest.mark.parametrize(
    "lower,upper",
    [
        ("companion.exercises", "companion.cli"),
        ("companion.exercises", "companion.chapters"),
        ("companion.models", "companion.train"),
        ("companion.models", "companion.loop"),
        ("companion.models", "companion.experiment"),
        ("companion.train", "companion.models"),  # the trainer knows nothing model-specific
        ("companion.loop", "companion.models"),
        ("companion.theory", "companion.cli"),
    ],
)
def test_imports_only_go_down(lower: str, upper: str) -> None:
    bad = {m: sorted(d for d in deps if d.startswith(upper)) for m, deps in GRAPH.items() if m.startswith(lower)}
    assert not {m: d for m, d in bad.items() if d}, bad
