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
# A header cell: "<th" then a space or ">" (not "<thead>", which once swallowed each table's first header).
TH = re.compile(r"<th(\s[^>]*)?>(.*?)</th>", re.S)


#: Inline math as the arithmatex extension renders it.
MATH = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)


def _rendered(text: str) -> str:
    """A translated header as HTML: its $...$ parts rendered as arithmatex renders inline math."""
    parts = re.split(r"(\$[^$]+\$)", text)
    return "".join(
        f'<span class="arithmatex">\\({html.escape(p[1:-1])}\\)</span>' if p.startswith("$") else html.escape(p)
        for p in parts
    )


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
        # The header as it was written ($...$ for math), to look it up in the dictionary.
        source = MATH.sub(lambda k: f"${html.unescape(k.group(1))}$", m.group(2)).strip()
        hebrew = words.get(html.unescape(source))
        if hebrew is None or hebrew == html.unescape(source) or "<" in source:  # none, or other markup (code): keep
            return f'<th{m.group(1) or ""} dir="auto">{m.group(2)}</th>'
        return f'<th{m.group(1) or ""} dir="auto">{_rendered(hebrew)}</th>'

    # No class attribute: Material styles and wraps in its horizontal scroll container only `table:not([class])`
    # (a classed table sat bare in the article and pushed a phone's page sideways); rtl.css keys on dir.
    return (
        '<table dir="ltr">'
        + TH.sub(cell, head)
        + ("</thead>" + inner.split("</thead>", 1)[1] if "</thead>" in inner else "")
        + "</table>"
    )


def on_page_content(content: str, page, config, files) -> str:
    def table(m: re.Match) -> str:
        return translate_table(m.group(1)) or m.group(0)

    return TABLE.sub(table, content)
