"""Does bf16 autocast cost quality? FID per epoch of fp32 and bf16 runs over several seeds.

A thin entry point to `companion.chapters.precision` (which reuses chapter 1's runs where
their precision matches, trains the rest, prints the table and draws the book's figure):

    python benchmarks/precision.py --seeds 3
"""

from __future__ import annotations

import sys

from companion.chapters.precision import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
