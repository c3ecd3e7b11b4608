"""The book in a real browser: every page at 1400 and 400 px, math typeset, images loaded, nothing
wider than its column without a scroll container, search that finds the chapters, and no request
leaving 127.0.0.1.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (``.ci/run`` installs
them); skipped with the reason where they are missing. ``COMPANION_SCREENSHOTS=DIR`` also saves a
screenshot of every page at both widths in the light and the dark theme, to look at.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (1400, 400)

if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
    pytest.skip("no browser: apt-get install chromium chromium-driver", allow_module_level=True)
selenium = pytest.importorskip("selenium", reason="no selenium: pip install selenium")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def server(site: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # one line per request would bury the test's report
            pass

    handler = functools.partial(Quiet, directory=str(site))
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
        httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site).parent).replace(".", "") for p in site.rglob("index.html"))


def _requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


# Runs in the page: everything a reader would notice, as one JSON object.
AUDIT = (Path(__file__).parent / "browser_audit.js").read_text()


def _audit(driver, url: str, width: int) -> dict:
    driver.set_window_size(width, 1000)
    driver.get(url)
    driver.execute_script("return document.readyState")
    import time

    time.sleep(0.3)  # KaTeX runs on document$ after load
    return json.loads(driver.execute_script(AUDIT))


def _screenshot(driver, url: str, width: int, name: str, folder: Path) -> None:
    for scheme in ("default", "slate"):
        driver.set_window_size(width, 1000)
        driver.get(url)
        # Switch with the header's palette toggle, as a reader does (setting the attribute by hand
        # leaves some colours of the other scheme behind).
        for _ in range(2):
            if driver.execute_script("return document.body.getAttribute('data-md-color-scheme')") == scheme:
                break
            toggles = driver.find_elements("css selector", "label.md-header__button[for^='__palette']")
            next(b for b in toggles if b.is_displayed()).click()
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(width, min(int(height), 12000))
        driver.save_screenshot(str(folder / f"{name or 'home'}_{width}_{scheme}.png".replace("/", "_")))


def test_every_page_at_both_widths(site: Path, server: str, browser) -> None:
    shots = os.environ.get("COMPANION_SCREENSHOTS")
    problems = []
    browser.get_log("performance")  # drop earlier entries
    for page in _pages(site):
        for width in WIDTHS:
            url = f"{server}/{page}/" if page else f"{server}/"
            r = _audit(browser, url, width)
            if r["katexErrors"] or r["raw"] or r["broken"] or r["wide"]:
                problems.append(f"{page or 'home'} @{width}px: {r}")
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                _screenshot(browser, url, width, page, Path(shots))
    outside = sorted({u for u in _requests(browser) if not u.startswith((server, "data:", "blob:", "about:"))})
    assert not outside, f"fetched from outside 127.0.0.1: {outside[:10]}"
    assert not problems, "\n".join(problems)


#: What a student types, and the pages that treat it (one of them must be among the first results).
QUERIES = {
    "saturation": ("part2/saturation", "part1/gan-losses"),
    "vanishing gradient": ("part2/saturation", "part1/gan-losses"),
    "mode collapse": ("part1/gan-losses", "troubleshooting"),
    "inversion": ("part1/inversion",),
    "inpainting": ("part1/restoration",),
    "flow": ("part2/flows",),
    "likelihood": ("part2/flows",),
    "Jacobian": ("part2/flows",),
    "LSGAN": ("part1/gan-losses", "part2/saturation"),
    "encoder": ("part1/inversion",),
    "FID": ("part1/gan-losses", "getting-started"),
}


@pytest.mark.parametrize("query", list(QUERIES))
def test_search_finds_the_chapter(server: str, browser, query: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1400, 1000)
    browser.get(f"{server}/")
    # As a reader does it: on a wide screen the search field sits in the header; on a narrow one a
    # button opens it (the first matching label in the DOM is a hidden one).
    field = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    if not field.is_displayed():
        next(b for b in browser.find_elements(By.CSS_SELECTOR, "label[for='__search']") if b.is_displayed()).click()
    box = WebDriverWait(browser, 10).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input")))
    box.send_keys(query)
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
    items = browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item > a")[:5]
    hrefs = [a.get_attribute("href") for a in items]
    assert any(any(f"/{want}/" in h for want in QUERIES[query]) for h in hrefs), f"{query!r}: {hrefs}"
    snippets = " ".join(a.text for a in items)
    assert "\\(" not in snippets and "\\to" not in snippets, f"raw LaTeX in search snippets: {snippets[:300]}"
