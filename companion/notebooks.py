"""Every chapter as a notebook: jupytext sources in ``notebooks/``, executed copies for the book.

Each notebook's first cell reads ``COMPANION_NOTEBOOK`` (``tiny``: seconds, synthetic data, for the
tests; ``cpu``: small real settings, minutes; ``gpu``: the chapter's full settings on a hosted GPU;
unset: ``gpu`` where CUDA is present, else ``cpu``), and a second cell installs the package when it is
not importable (a hosted notebook service). The book shows the copies executed with ``cpu``
settings in ``docs/notebooks/`` (committed with their outputs: the docs build never runs them).

    python -m companion.notebooks                 # execute all with cpu settings into docs/notebooks/
    python -m companion.notebooks --mode tiny --out /tmp/nb minimax
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from companion.book import TITLES

__all__ = ["NOTEBOOKS", "SOURCES", "execute"]

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks"
#: Notebook name -> the chapter it belongs to (in book order): one per chapter.
NOTEBOOKS = TITLES


def execute(name: str, out_dir: Path, mode: str = "cpu", timeout: int = 3600) -> Path:
    """Convert ``notebooks/<name>.py`` to a notebook, run it top to bottom, and write ``<out_dir>/<name>.ipynb``.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell failed (the message names the cell).
    """
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(SOURCES / f"{name}.py")
    env_before = os.environ.get("COMPANION_NOTEBOOK")
    os.environ["COMPANION_NOTEBOOK"] = mode
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("COMPANION_NOTEBOOK", None)
        else:
            os.environ["COMPANION_NOTEBOOK"] = env_before
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.ipynb"
    jupytext.write(nb, path, fmt="ipynb")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Execute the chapter notebooks.")
    p.add_argument("names", nargs="*", default=list(NOTEBOOKS))
    p.add_argument("--mode", choices=("tiny", "cpu", "gpu"), default="cpu")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "notebooks")
    args = p.parse_args(argv)
    for name in args.names:
        if name not in NOTEBOOKS:
            print(f"unknown notebook '{name}'; choose from {', '.join(NOTEBOOKS)}", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        path = execute(name, args.out, args.mode)
        print(f"{path}: executed ({args.mode}) in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
