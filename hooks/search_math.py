"""MkDocs hook: the search index holds readable math, not raw LaTeX.

Material's search indexes a page's text; pymdownx.arithmatex leaves math as ``\\(...\\)`` source
there, so a result snippet would read ``\\(D(G(z)) \\to 0\\)``. After the build this hook rewrites
the index's text into plain symbols (``D(G(z)) → 0``). The pages themselves are untouched (KaTeX
typesets them in the browser).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SYMBOLS = {
    r"\to": "→",
    r"\rightarrow": "→",
    r"\leftarrow": "←",
    r"\infty": "∞",
    r"\partial": "∂",
    r"\nabla": "∇",
    r"\sigma": "σ",
    r"\theta": "θ",
    r"\lambda": "λ",
    r"\mu": "μ",
    r"\Sigma": "Σ",
    r"\sum": "Σ",
    r"\prod": "Π",
    r"\varepsilon": "ε",
    r"\epsilon": "ε",
    r"\alpha": "α",
    r"\beta": "β",
    r"\gamma": "γ",
    r"\le": "≤",
    r"\leq": "≤",
    r"\ge": "≥",
    r"\geq": "≥",
    r"\ne": "≠",
    r"\neq": "≠",
    r"\approx": "≈",
    r"\odot": "⊙",
    r"\cdot": "·",
    r"\times": "×",
    r"\lVert": "‖",
    r"\rVert": "‖",
    r"\|": "‖",
    r"\in": "∈",
    r"\circ": "∘",
    r"\dots": "…",
    r"\ldots": "…",
    r"\tfrac12": "½",
    r"\frac12": "½",
    r"\star": "*",
    r"\top": "ᵀ",
}


def plain_math(tex: str) -> str:
    """A readable plain-text rendering of a LaTeX fragment (for search snippets only)."""
    s = tex
    s = re.sub(r"\\(?:t|d)?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", s)
    s = re.sub(r"\\(?:mathbb|mathcal|mathrm|operatorname|text|mathbf|boldsymbol)\{([^{}]*)\}", r"\1", s)
    for cmd in sorted(SYMBOLS, key=len, reverse=True):
        s = re.sub(re.escape(cmd) + r"(?![A-Za-z])", SYMBOLS[cmd], s)
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg|displaystyle|quad|qquad|,|;|!)", " ", s)
    s = re.sub(r"\\([A-Za-z]+)", r"\1", s)  # \log -> log, \max -> max
    s = s.replace("{", "").replace("}", "").replace("\\", "")
    return re.sub(r"\s+", " ", s).strip()


# The last form is single-dollar math, as notebook outputs (IPython Markdown) carry it: only spans
# with a backslash, ^ or _ count, so a price such as "$5 and $6" is left alone.
MATH = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]|\$\$(.+?)\$\$|(?<!\$)\$(?!\$)([^$\n]*?[\\^_][^$\n]*?)\$", re.S)


def on_post_build(config, **kwargs) -> None:
    index = Path(config["site_dir"]) / "search" / "search_index.json"
    if not index.is_file():
        return
    data = json.loads(index.read_text())
    for doc in data.get("docs", []):
        for key in ("text", "title"):
            if key in doc:
                doc[key] = MATH.sub(lambda m: plain_math(next(g for g in m.groups() if g is not None)), doc[key])
    index.write_text(json.dumps(data))
