"""The search-index hook turns LaTeX into readable text, and leaves prose dollars alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hooks"))
from search_math import MATH, plain_math


def rewrite(text: str) -> str:
    return MATH.sub(lambda m: plain_math(next(g for g in m.groups() if g is not None)), text)


@pytest.mark.parametrize(
    "source,want",
    [
        (r"\(D(G(z)) \to 0\)", "D(G(z)) → 0"),
        (r"\[\sigma(a)\]", "σ(a)"),
        (r"$$\partial L / \partial a$$", "∂ L / ∂ a"),
        (r"limit $\lim_{a \to -\infty}$ here", "limit lim_a → -∞ here"),  # notebook output: single dollars
        (r"$\tfrac12 (a - 1)^2$", "½ (a - 1)^2"),
    ],
)
def test_math_becomes_plain_text(source: str, want: str) -> None:
    assert rewrite(source) == want


def test_prose_dollars_are_left_alone() -> None:
    assert rewrite("a GPU hour costs $5 and a day $60") == "a GPU hour costs $5 and a day $60"
