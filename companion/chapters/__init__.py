"""Chapter scripts: each trains or computes what its book page shows and writes ``docs/assets/<name>/``.

Run one with ``python -m companion.chapters.<name> --help``.
"""

__all__: list[str] = []
