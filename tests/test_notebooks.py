"""Every chapter notebook runs top to bottom (tiny settings, synthetic data), so none can rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.notebooks import NOTEBOOKS, SOURCES, execute


def test_there_is_a_notebook_per_chapter() -> None:
    assert sorted(p.stem for p in SOURCES.glob("*.py")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_executes_on_tiny_settings(name: str, tmp_path: Path, monkeypatch) -> None:
    import json

    monkeypatch.setenv("COMPANION_DATA", str(tmp_path / "no-data"))  # tiny settings use synthetic data only
    path = execute(name, tmp_path, mode="tiny", timeout=600)
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code)
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert any("mode: tiny" in "".join(o.get("text", "")) for c in code for o in c.get("outputs", []))
