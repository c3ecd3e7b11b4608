"""The book: every nav page exists, and every image, file or snippet a page references exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for v in node.values() for p in _nav_pages(v)]
    return []


def _config() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *a: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)


NAV = _nav_pages(_config()["nav"])
PAGES = sorted(DOCS.rglob("*.md"))


@pytest.mark.parametrize("page", NAV)
def test_nav_page_exists(page: str) -> None:
    assert (DOCS / page).is_file(), page


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_referenced_images_and_snippets_exist(page: Path) -> None:
    text = page.read_text()
    for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text):
        assert (page.parent / target).resolve().is_file(), f"{page.name}: missing image {target}"
    for target in re.findall(r"--8<-- \"([^\"]+)\"", text):
        path, _, section = target.partition(":")
        src = ROOT / path
        assert src.is_file(), f"{page.name}: missing snippet file {path}"
        if section:
            assert f"[start:{section}]" in src.read_text(), f"{page.name}: no section {section} in {path}"
    for target in re.findall(r"\]\(((?!https?:|#)[^)\s]+\.(?:md|png|gif|json))", text):
        assert (page.parent / target.split("#")[0]).resolve().is_file(), f"{page.name}: broken link {target}"
