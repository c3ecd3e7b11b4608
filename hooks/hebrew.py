"""MkDocs hook of the Hebrew edition (mkdocs.hebrew.yml): data tables keep their order, their headers in Hebrew.

The tables the chapter scripts write (``docs/assets/**/*.md``, included by snippets into both
editions) have English headers and columns whose order carries meaning (method, then its numbers).
In the Hebrew pages they stay left to right (``dir="ltr"``), and their header cells are translated
from one dictionary, ``hooks/hebrew_tables.yml``; the numbers are the English edition's, from the
same files. Tables written in Hebrew in a page (the glossary) are right to left like the text.
"""

from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path

HEBREW = re.compile(r"[\u0590-\u05FF]")
TABLE = re.compile(r"<table>(.*?)</table>", re.S)
TH = re.compile(r"<th([^>]*)>(.*?)</th>", re.S)


@cache
def headers() -> dict[str, str]:
    import yaml

    return yaml.safe_load((Path(__file__).with_name("hebrew_tables.yml")).read_text(encoding="utf-8")) or {}


def translate_table(inner: str) -> str | None:
    """A data table (no Hebrew in its header) with its header cells translated; None for a Hebrew table."""
    head = inner.split("</thead>")[0]
    if HEBREW.search(head):
        return None
    words = headers()

    def cell(m: re.Match) -> str:
        text = html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip()
        hebrew = words.get(text)
        if hebrew is None or hebrew == text or "<" in m.group(2):  # no translation, or markup (math, code): keep
            return f'<th{m.group(1)} dir="auto">{m.group(2)}</th>'
        return f'<th{m.group(1)} dir="auto">{html.escape(hebrew)}</th>'

    return (
        '<table dir="ltr" class="data">'
        + TH.sub(cell, head)
        + ("</thead>" + inner.split("</thead>", 1)[1] if "</thead>" in inner else "")
        + "</table>"
    )


def on_page_content(content: str, page, config, files) -> str:
    def table(m: re.Match) -> str:
        return translate_table(m.group(1)) or m.group(0)

    return TABLE.sub(table, content)
