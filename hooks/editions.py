"""MkDocs hook: the Hebrew edition is built with the English one, into ``<site>/he/``.

The Hebrew pages live in ``docs/he/`` and have their own configuration, ``mkdocs.he.yml``
(which inherits this one: the same theme, extensions, snippets and assets). After the English
build, this hook builds the Hebrew edition into the ``he/`` folder of the same site, so that
``mkdocs build`` writes both and ``mkdocs serve`` serves both (the switcher in the header goes to
the same page in the other language). Figures, tables, commands and code regions are shared, never
copied: ``docs/he/assets``, ``javascripts`` and ``stylesheets`` are links to the English folders, and
snippets are read from the repository root by both builds.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def on_post_build(config) -> None:
    if Path(config.config_file_path or "").name == "mkdocs.he.yml":
        return  # the Hebrew build itself
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    he = load_config(str(ROOT / "mkdocs.he.yml"), site_dir=str(Path(config.site_dir) / "he"))
    he.strict = config.strict
    build(he, dirty=False)
