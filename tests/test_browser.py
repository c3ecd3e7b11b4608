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

    class Server(socketserver.ThreadingTCPServer):
        def handle_error(self, request, client_address) -> None:
            # The browser drops connections it no longer needs (a page left mid-download): not an error
            # of the site, and the default handler printed a BrokenPipeError traceback into the CI log.
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)

    handler = functools.partial(Quiet, directory=str(site))
    # Threaded: a browser fetches the files of a page in parallel.
    with Server(("127.0.0.1", 0), handler) as httpd:
        httpd.daemon_threads = True
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


# True once the page has loaded and KaTeX (which runs on Material's document$, after "load") has
# typeset every formula arithmatex left: each holds KaTeX's output or, for bad TeX, its error span.
TYPESET = """return document.readyState === 'complete'
  && [...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex, .katex-error'));"""


def _until(driver, condition, timeout: float = 10.0):
    """Poll ``condition(driver)`` every 0.1 s until it is truthy or ``timeout`` s pass; its last value.

    No fixed sleeps in this file: a busy CI machine can take longer than any guess. The caller
    asserts on the value, so a timeout fails with what the page last showed.
    """
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    last = None

    def probe(d):
        nonlocal last
        last = condition(d)
        return last

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.1).until(probe)
    except TimeoutException:
        pass
    return last


def _audit(driver, url: str, width: int) -> dict:
    driver.set_window_size(width, 1000)
    driver.get(url)
    assert _until(driver, lambda d: d.execute_script(TYPESET)), f"math never typeset on {url}"
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


#: A phone's widths: what a reader feels is the page itself scrolling sideways.
PHONE_WIDTHS = (360, 400)

# The document's own sideways scroll: the root's overflow, and how far the window really moves when asked
# to scroll right and left (a right-to-left page scrolls to negative x).
SIDEWAYS = """
const root = document.documentElement;
const moved = [];
for (const x of [100000, -100000]) { window.scrollTo(x, window.scrollY); moved.push(Math.abs(window.scrollX)); }
window.scrollTo(0, window.scrollY);
return {overflow: root.scrollWidth - root.clientWidth, scroll: Math.max(...moved)};
"""

# A wide table put straight into the article, with no scroll container around it (the planted control).
PLANT = """
const t = document.createElement('table');
t.className = 'planted';
t.innerHTML = '<tr>' + Array.from({length: 12}, (_, i) => '<td>column_' + i + '_wide_cell</td>').join('') + '</tr>';
document.querySelector('article').append(t);
"""


def _sideways(driver, width: int) -> list[str]:
    """Where the page scrolls sideways at ``width`` in both schemes (empty: nowhere)."""
    out = []
    driver.set_window_size(width, 900)
    for scheme in ("default", "slate"):
        driver.execute_script(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
        r = driver.execute_script(SIDEWAYS)
        if r["overflow"] > 1 or r["scroll"] > 1:
            out.append(f"@{width}px {scheme}: page {r['overflow']} px wider than the screen, scrolls {r['scroll']} px")
    return out


WRAPPED = """return [...document.querySelectorAll('article table:not([class])')]
  .every(t => t.closest('.md-typeset__scrollwrap'));"""


def test_every_page_at_both_widths(site: Path, server: str, browser) -> None:
    """Every page of both editions (notebooks included): math typeset, images loaded, nothing too wide; and on
    a phone (360 and 400 px, light and dark) the page itself never scrolls sideways."""
    shots = os.environ.get("COMPANION_SCREENSHOTS")
    problems = []
    browser.get_log("performance")  # drop earlier entries
    for page in _pages(site):
        for width in WIDTHS:
            url = f"{server}/{page}/" if page else f"{server}/"
            r = _audit(browser, url, width)
            if r["katexErrors"] or r["raw"] or r["broken"] or r["wide"]:
                problems.append(f"{page or 'home'} @{width}px: {r}")
            if width == min(WIDTHS):  # the phone: what a reader feels is the page moving sideways
                _until(browser, lambda d: d.execute_script(WRAPPED))  # Material's table wrappers are in place
                problems += [f"{page or 'home'} {p}" for w in PHONE_WIDTHS for p in _sideways(browser, w)]
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                _screenshot(browser, url, width, page, Path(shots))
    outside = sorted({u for u in _requests(browser) if not u.startswith((server, "data:", "blob:", "about:"))})
    assert not outside, f"fetched from outside 127.0.0.1: {outside[:10]}"
    assert not problems, "\n".join(problems)


def test_the_sideways_check_sees_a_planted_wide_table(server: str, browser) -> None:
    """Negative control: a wide table without a wrapper, added to a Hebrew page, makes the page scroll sideways."""
    browser.set_window_size(PHONE_WIDTHS[0], 900)
    browser.get(f"{server}/he/part2/saturation/")
    _until(browser, lambda d: d.execute_script(TYPESET))
    assert not _sideways(browser, PHONE_WIDTHS[0])
    browser.execute_script(PLANT)
    assert _sideways(browser, PHONE_WIDTHS[0])


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
    "Glow": ("part2/glow", "part2/flows"),
    "bits per dimension": ("part2/glow",),
    "GLO": ("part1/glo",),
    "IMLE": ("part1/glo",),
    "Fashion-MNIST": ("part2/glow",),
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


# --- the interactive figures (docs/javascripts/companion-web.js) against PyTorch --------------------------


def _open_with_hook(driver, url: str) -> None:
    """Open a page and wait until companion-web.js has defined its test hook, ``window.companion``.

    ``get`` can return before the page's scripts have run (seen once in CI: the hook was undefined).
    """
    driver.get(url)
    hook = _until(driver, lambda d: d.execute_script("return typeof window.companion !== 'undefined'"))
    assert hook, f"window.companion never defined on {url}"


def _run_js(driver, script: str, *args):
    """Await a promise in the page: ``script`` gets the arguments and must call done(result)."""
    return driver.execute_async_script("const done = arguments[arguments.length - 1];" + script, *args)


@pytest.fixture(scope="module")
def tiny_web(site: Path) -> dict:
    """A fresh tiny generator and encoder, exported by `companion export-web` into the served site."""
    import tempfile

    from companion.cli import main
    from companion.config import make_config
    from companion.experiment import run_training
    from companion.webexport import export_web

    root = Path(tempfile.mkdtemp())
    cfg = make_config(None, dataset="synthetic", epochs=1, batch_size=64, fid_samples=0, device="cpu", n_fixed=8)
    run_training(cfg, root / "gan", progress=False, render=False)
    assert main(["encoder", "train", "--generator", str(root / "gan" / "ckpt.pt"), "--out", str(root / "enc"),
                 "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--no-progress"]) == 0  # fmt: skip
    export_web(root / "gan" / "ckpt.pt", site / "test-web", root / "enc" / "ckpt.pt", quantize=False)
    return {"gan": root / "gan" / "ckpt.pt", "enc": root / "enc" / "ckpt.pt"}


def test_browser_networks_equal_pytorch(server: str, browser, tiny_web: dict) -> None:
    """G(z) within one grey level of PyTorch's for the same latents; E(x) within 1e-2 of the encoder's latents."""
    import torch

    from companion.data import make_synthetic
    from companion.encoder import load_encoder
    from companion.experiment import load_generator
    from companion.pixels import to_uint8

    browser.set_window_size(1400, 1000)
    _open_with_hook(browser, f"{server}/part1/inversion/")
    base = f"{server}/test-web/"
    G, _, _ = load_generator(tiny_web["gan"])
    z = torch.randn(6, 100, generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        expected = to_uint8(G(z)).flatten(1).int()
    for i in range(6):
        got = torch.tensor(_run_js(browser, "window.companion.decode(arguments[0], arguments[1]).then(done)",
                                   z[i].tolist(), base))  # fmt: skip
        assert got.shape == (784,) and (got - expected[i]).abs().max() <= 1, i
    E = load_encoder(tiny_web["enc"], G)
    x = make_synthetic(4, seed=8).images
    with torch.no_grad():
        z_ref = E(x.float() / 255)
    for i in range(4):
        grey = x[i].flatten().tolist()
        z_js = torch.tensor(
            _run_js(browser, "window.companion.encode(arguments[0], arguments[1]).then(done)", grey, base)
        )
        assert (z_js - z_ref[i]).abs().max() < 1e-2, (i, float((z_js - z_ref[i]).abs().max()))


def test_browser_playground_equals_python(server: str, browser) -> None:
    from companion.theory.minimax import PLAY_DEFAULTS, gradient_play_2d

    _open_with_hook(browser, f"{server}/part2/minimax/")
    for game, d in PLAY_DEFAULTS.items():
        for mode in ("simultaneous", "alternating"):
            for lr in (d["lr"], 0.27):
                py = gradient_play_2d(game, d["x0"], d["y0"], lr, d["steps"], mode)
                js = browser.execute_script("return window.companion.play(...arguments)", game, mode, lr, d["steps"],
                                            d["x0"], d["y0"])  # fmt: skip
                assert len(js) == len(py) and max(abs(a - b) for p, q in zip(py, js) for a, b in zip(p, q)) < 1e-6
    # the page's embedded settings are the chapter's (so the still figure and the live one agree)
    page = json.loads(browser.execute_script("return document.querySelector('.cw-figure').dataset.defaults"))
    assert page == PLAY_DEFAULTS


@pytest.mark.parametrize("width", WIDTHS)
def test_figures_start_without_console_errors_and_fit(server: str, browser, width: int) -> None:
    """Each figure started as a reader does (a click), at both widths: no console error, nothing wider than the page."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(width, 1000)
    browser.get_log("browser")
    for page, figures in (("part1/inversion", 2), ("part2/minimax", 1)):
        browser.get(f"{server}/{page}/")
        for button in browser.find_elements(By.CSS_SELECTOR, ".cw-start"):
            # centred: scrolled to the top, the button would sit under the sticky header, which takes the click
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
            button.click()
        # until every figure has drawn its canvases (the weights are fetched on the click)
        _until(browser, lambda d, n=figures: len(d.find_elements(By.CSS_SELECTOR, ".cw-figure .cw-ui")) == n, 30)
        assert len(browser.find_elements(By.CSS_SELECTOR, ".cw-figure .cw-ui")) == figures, page
        wide = browser.execute_script(
            "return [...document.querySelectorAll('.cw-figure *')].filter(e => e.getBoundingClientRect().right > "
            "document.documentElement.clientWidth + 1).map(e => e.tagName)"
        )
        assert not wide, f"{page} @{width}px: {wide}"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


# Text nodes of the started figures that are not left-to-right isolates (numbers and formulas are <bdi>).
FIGURE_TEXT = """
const out = [];
for (const root of document.querySelectorAll('.cw-figure .cw-ui')) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.textContent.trim();
    if (t && !n.parentElement.closest('bdi')) out.push(t);
  }
}
return out;
"""
SHOWN = """
const labels = document.querySelectorAll('.cw-figure .cw-ui :is(p, figcaption, span.cw-label, button.md-button)');
const options = document.querySelectorAll('.cw-figure option');
return [...labels].map(e => e.innerText.trim()).concat([...options].map(o => o.textContent));"""


# Isolates whose characters do not run left to right on screen (per line: an isolate may wrap).
SCRAMBLED = """
const bad = [];
for (const b of document.querySelectorAll('.cw-figure bdi')) {
  const t = b.firstChild; if (!t || t.nodeType !== 3) continue;
  let prev = null;
  for (let i = 0; i < t.length; i++) {
    const r = document.createRange(); r.setStart(t, i); r.setEnd(t, i + 1);
    const rc = r.getClientRects()[0]; if (!rc || t.data[i] === ' ') continue;
    if (prev && Math.abs(rc.top - prev.top) < 2 && rc.left < prev.left) { bad.push(t.data); break; }
    prev = rc;
  }
}
return bad;
"""


def _start_figures(driver, url: str, figures: int) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    _until(driver, lambda d: d.execute_script("return typeof window.companion !== 'undefined'"))
    for button in driver.find_elements(By.CSS_SELECTOR, ".cw-start"):
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
    _until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".cw-figure .cw-ui")) == figures, 30)


def _template(entry: str) -> str:
    """A regular expression for a string of the figures' table: $formula$ as its text, {value} as anything."""
    import re

    parts = re.split(r"(\$[^$]*\$|\{\w+\})", entry)
    return "".join(".+?" if p.startswith("{") else re.escape(p.strip("$") if p.startswith("$") else p) for p in parts)


@pytest.mark.parametrize(
    "page,figures,keys",
    [
        ("part1/inversion", 2, ["explorer_hint", "explorer_t", "explorer_linear", "explorer_slerp", "explorer_dirs",
                                "explorer_dir", "explorer_status", "draw_small", "draw_recon", "draw_clear",
                                "draw_start"]),
        ("part2/minimax", 1, ["play_game", "play_step", "play_bilinear", "play_squared", "play_hint", "play_status"]),
    ],
)  # fmt: skip
def test_figures_speak_the_pages_language(server: str, browser, page: str, figures: int, keys: list[str]) -> None:
    """On a Hebrew page every label of a figure reads as the Hebrew table's string (innerText), its words
    Hebrew and only its numbers and formulas left-to-right isolates; on the English page, the English table's."""
    import re

    hebrew = re.compile(r"[\u0590-\u05FF]")
    for edition in ("he", "en"):
        browser.set_window_size(400, 1000)
        _start_figures(browser, f"{server}/{'he/' if edition == 'he' else ''}{page}/", figures)
        table = browser.execute_script(f"return window.companion.strings.{edition}")
        shown = browser.execute_script(SHOWN)
        for key in keys:
            assert any(re.fullmatch(_template(table[key]), t) for t in shown), f"{edition} {key}: {shown}"
        words = browser.execute_script(FIGURE_TEXT)
        if edition == "he":
            latin = [w for w in words if not hebrew.search(w) and re.search(r"[A-Za-z]{2,}", w)]
            assert not latin, f"English words outside the isolates on he/{page}: {latin}"
            # numbers and formulas read left to right inside the right-to-left sentences ("28 x 28", not "x 28 28")
            assert not browser.execute_script(SCRAMBLED), browser.execute_script(SCRAMBLED)
            # negative control: the same kind of text in a right-to-left isolate comes out scrambled, and is seen
            browser.execute_script(
                "const b = document.createElement('bdi'); b.dir = 'rtl'; b.textContent = '(1, 0.5) 28 x 28';"
                "document.querySelector('.cw-figure p').append(b);"
            )
            assert browser.execute_script(SCRAMBLED) == ["(1, 0.5) 28 x 28"]
        else:
            assert not any(hebrew.search(w) for w in words), words


def test_without_javascript_the_figures_are_still_images(site: Path, server: str) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        for page in ("part1/inversion", "part2/minimax"):
            driver.get(f"{server}/{page}/")
            figs = driver.find_elements(By.CSS_SELECTOR, ".cw-figure")
            assert figs
            for fig in figs:
                img = fig.find_element(By.CSS_SELECTOR, "img")
                assert img.is_displayed() and driver.execute_script("return arguments[0].naturalWidth", img) > 0
                assert not any(b.is_displayed() for b in fig.find_elements(By.CSS_SELECTOR, ".cw-start"))
    finally:
        driver.quit()


# --- the Hebrew edition ----------------------------------------------------------------------------------

RTL_CHECK = """
const body = getComputedStyle(document.body).direction;
const ltr = (sel) => [...document.querySelectorAll(sel)].filter(e => getComputedStyle(e).direction !== 'ltr').length;
return {
  body, lang: document.documentElement.lang,
  math: document.querySelectorAll('.katex').length, mathNotLtr: ltr('.md-typeset .katex'),
  codeNotLtr: ltr('.md-typeset pre, .md-typeset code'),
  switcher: [...document.querySelectorAll('a.md-select__link[hreflang]')].map(a => [a.hreflang, a.href]),
};
"""


def _switcher(driver) -> dict[str, str]:
    """The language switcher's links, by language."""
    return dict(driver.execute_script(RTL_CHECK)["switcher"])


def test_hebrew_pages_run_right_to_left_with_math_and_code_left_to_right(site: Path, server: str, browser) -> None:
    import urllib.request

    pages = [p for p in _pages(site) if p.startswith("he")]
    assert len(pages) >= 16, pages
    problems = []
    for page in pages:
        browser.set_window_size(WIDTHS[0], 1000)
        browser.get(f"{server}/{page}/")  # once per page: directions do not depend on how the page was reached
        assert _until(browser, lambda d: d.execute_script(TYPESET)), f"math never typeset on {page}"
        for width in WIDTHS:
            browser.set_window_size(width, 1000)
            for scheme in ("default", "slate"):
                browser.execute_script(f"document.body.setAttribute('data-md-color-scheme', '{scheme}')")
                r = browser.execute_script(RTL_CHECK)
                if r["body"] != "rtl" or r["mathNotLtr"] or r["codeNotLtr"]:
                    problems.append(f"{page} @{width} {scheme}: {r}")
        # the switcher goes to the same page in English (the Hebrew-only glossary: to the English home), and back
        rest = page.removeprefix("he").strip("/")
        want = "/" if rest in ("", "glossary") else f"/{rest}/"
        # editions.js rewrites the links on Material's page event, which can come after "load"
        _until(browser, lambda d, w=want: _switcher(d)["en"].replace(server, "") == w, 5)
        links = _switcher(browser)
        for lang in ("en", "he"):
            with urllib.request.urlopen(links[lang]) as resp:
                assert resp.status == 200, (page, lang, links[lang])
        assert links["en"].replace(server, "") == want, (page, links["en"])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "query,want",
    [("רוויה", "he/part2/saturation"), ("חישה דחוסה", "he/part1/restoration"), ("זרימה מנרמלת", "he/part2/flows")],
)
def test_hebrew_search_finds_the_page_that_treats_the_term(server: str, browser, query: str, want: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1400, 1000)
    browser.get(f"{server}/he/")
    box = WebDriverWait(browser, 10).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input")))
    box.send_keys(query)
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
    hrefs = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item > a")[:5]]
    assert any(f"/{want}/" in h for h in hrefs), f"{query!r}: {hrefs}"


@pytest.mark.parametrize("page", ["notebooks/gan_losses", "api", "part1/glo"])
def test_the_switcher_from_an_english_page_resolves(server: str, browser, page: str) -> None:
    import urllib.request

    browser.set_window_size(1400, 1000)
    browser.get(f"{server}/{page}/")
    # a page with a Hebrew twin goes to it; the English-only notebooks and API go to the Hebrew home
    want = "/he/" if page.startswith(("notebooks", "api")) else f"/he/{page}/"
    # editions.js rewrites the links on Material's page event, which can come after "load"
    _until(browser, lambda d: _switcher(d)["he"].replace(server, "") == want, 5)
    links = _switcher(browser)
    with urllib.request.urlopen(links["he"]) as resp:
        assert resp.status == 200, links["he"]
    assert links["he"].replace(server, "") == want, links["he"]
