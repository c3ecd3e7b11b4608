"""The two editions cannot drift apart: every English page has its Hebrew twin, with the same figures, tables
(snippet files) and code regions; every data-table header has its Hebrew translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HE = DOCS / "he"


def _nav(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav(item)]
    if isinstance(node, dict):
        return [p for v in node.values() for p in _nav(v)]
    return []


def _config(name: str) -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *a: None)
    return yaml.load((ROOT / name).read_text(encoding="utf-8"), Loader=Loader)


#: Pages that stay in English (the Hebrew navigation links to them and says so).
ENGLISH_ONLY = ("notebooks/", "api.md")
PAGES = [p for p in _nav(_config("mkdocs.yml")["nav"]) if p.endswith(".md") and not p.startswith(ENGLISH_ONLY)]


def shared_parts(text: str) -> dict[str, set[str]]:
    """What a page shows that both editions must share: images, snippet files and code regions."""
    images = set(re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text))
    snippets = {s.replace(".he.md", ".md") for s in re.findall(r'--8<-- "([^"]+)"', text)}  # Hebrew exercise fragments
    return {"images": images, "snippets": snippets}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_its_hebrew_twin_with_the_same_figures_tables_and_code(page: str) -> None:
    twin = HE / page
    assert twin.is_file(), f"no Hebrew page for {page}: write docs/he/{page}"
    en, he = shared_parts((DOCS / page).read_text()), shared_parts(twin.read_text())
    for kind in ("images", "snippets"):
        assert en[kind] == he[kind], (
            f"{page}: {kind} only in English {en[kind] - he[kind]}, only in Hebrew {he[kind] - en[kind]}"
        )
    exercises = re.findall(r'--8<-- "docs/exercises/([a-z_]+)(\.he)?\.md"', twin.read_text())
    assert all(he_suffix for _, he_suffix in exercises), f"{page}: the Hebrew page must include the Hebrew exercises"


def test_the_drift_check_sees_a_figure_added_to_one_side() -> None:
    """Negative control: one more figure on one side is a difference."""
    page = (DOCS / "part1/gan-losses.md").read_text()
    more = page + "\n![a new figure](../assets/gan_losses/new.png)\n"
    assert shared_parts(page)["images"] != shared_parts(more)["images"]


def test_hebrew_pages_are_hebrew() -> None:
    for page in PAGES:
        text = (HE / page).read_text()
        prose = re.sub(r"```.*?```|\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|--8<--.*", "", text, flags=re.S)
        letters = [c for c in prose if c.isalpha()]
        hebrew = sum("\u0590" <= c <= "\u05ff" for c in letters)
        assert hebrew > 0.5 * len(letters), f"docs/he/{page} is mostly not Hebrew ({hebrew} of {len(letters)} letters)"


def test_glossary_lists_the_terms_with_their_english() -> None:
    text = (HE / "glossary.md").read_text()
    rows = [r for r in text.splitlines() if r.startswith("| ") and "---" not in r][1:]
    assert len(rows) >= 30
    terms = {r.split("|")[2].strip() for r in rows}
    for english in ("generator", "discriminator", "latent vector", "loss", "saturation", "likelihood"):
        assert english in terms, english


def _table_headers(text: str) -> set[str]:
    headers = set()
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[i + 1]):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not any("\u0590" <= ch <= "\u05ff" for ch in line):
                headers |= {c for c in cells if c}
    return headers


def test_every_data_table_header_has_its_hebrew_translation() -> None:
    """The headers of the English tables the Hebrew pages show (their own and the shared asset tables)."""
    words = yaml.safe_load((ROOT / "hooks" / "hebrew_tables.yml").read_text(encoding="utf-8")) or {}
    missing = set()
    for page in PAGES:
        text = (HE / page).read_text()
        missing |= _table_headers(text)
        for snippet in re.findall(r'--8<-- "([^"]+\.md)"', text):
            if snippet.startswith("docs/assets/"):
                missing |= _table_headers((ROOT / snippet).read_text())
    plain = {re.sub(r"\*\*|`", "", h) for h in missing}
    untranslated = sorted(h for h in plain if h not in words and not re.fullmatch(r"[\d.,\s%±×x/]+", h))
    assert not untranslated, f"add to hooks/hebrew_tables.yml: {untranslated}"


def _hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hebrew_hook", ROOT / "hooks" / "hebrew.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hook_translates_every_header_cell_the_first_and_math_ones_too() -> None:
    """Rendered as Python-Markdown renders a table: the first header once stayed English (<thead> matched <th)."""
    hook = _hook()
    inner = (
        '\n<thead>\n<tr>\n<th>route</th>\n<th style="text-align: right;">images / s</th>\n'
        '<th>in <span class="arithmatex">\\(D=\\sigma(a)\\)</span></th>\n<th>GLO (Bojanowski et al.)</th>\n'
        "</tr>\n</thead>\n<tbody>\n<tr><td>a</td><td>1</td><td>2</td><td>3</td></tr>\n</tbody>\n"
    )
    out = hook.translate_table(inner)
    cells = re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", out, re.S)
    assert cells == ["מסלול", "תמונות / שנייה", 'ב-<span class="arithmatex">\\(D=\\sigma(a)\\)</span>',
                     "GLO (Bojanowski et al.)"]  # fmt: skip
    assert 'style="text-align: right;" dir="auto"' in out  # the cell's own attributes stay
    # Material puts only unclassed tables in its horizontal scroll container: the table must stay unclassed.
    assert out.startswith('<table dir="ltr">') and "class=" not in out.split(">", 1)[0]
    assert "<td>a</td><td>1</td>" in out  # the data untouched


def test_the_hook_leaves_a_hebrew_table_alone() -> None:
    assert _hook().translate_table("<thead><tr><th>מונח</th><th>English</th></tr></thead><tbody></tbody>") is None
