"""Chapter scripts: each trains or computes what its book page shows and writes ``docs/assets/<name>/``.

Run one with ``python -m companion.chapters.<name> --help``. `TITLES` names the book's chapters
that have exercises and notebooks, in book order.
"""

from companion.book import TITLES

__all__ = ["TITLES"]
