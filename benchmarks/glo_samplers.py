"""How many components GLO's mixture sampler needs: FID of each choice on training digits, never the test digits.

Fits `companion.latent_samplers.MixtureCodes` with k components to a GLO run's codes (its checkpoint holds the
60,000 training codes; ``book:glo`` does not ship them), draws samples, decodes them with the run's G and scores
them in the book's classifier features against the first 10,000 MNIST training digits. Prints one line per k:
FID, classes covered, blank samples (brightest pixel below grey level 32) and the seconds the fit took.

    python benchmarks/glo_samplers.py --checkpoint runs/glo/book/seed0/ckpt.pt --k 1 10 25 50 100 200

On the book run (2026-12-07, 2,000 samples): k = 1 322.9 (9 classes), 10: 90.0, 25: 51.4, 50: 34.1,
100: 29.9, 200: 26.4 (10 classes, no blank sample from k = 10 on); the book uses 100.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="a GLO run's ckpt.pt (with its training codes)")
    p.add_argument("--k", type=int, nargs="+", default=[1, 10, 25, 50, 100, 200])
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()

    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.data import load_dataset
    from companion.latent_samplers import MixtureCodes, MixtureConfig
    from companion.metrics import FIDScorer, get_classifier
    from companion.models import ArchSpec, build_generator
    from companion.pixels import to_uint8

    ck = load_checkpoint(args.checkpoint, GLO_FORMAT)
    G = build_generator(ArchSpec(**ck["meta"]["arch"]))
    G.load_state_dict(ck["generator"])
    G.eval()
    codes = ck["codes"].float()
    reference = load_dataset("mnist", "train", args.data_dir).images[:10000]
    scorer = FIDScorer(get_classifier("mnist", args.data_dir, "cpu", False), reference)
    for k in args.k:
        t0 = time.perf_counter()
        mixture = MixtureCodes.fit(codes, MixtureConfig(components=k))
        fit = time.perf_counter() - t0
        with torch.no_grad():
            images = to_uint8(G(mixture.sample(args.samples, torch.Generator().manual_seed(0))))
        r = scorer.score_images(images)
        blank = int((images.flatten(1).amax(1) < 32).sum())
        print(f"k = {k:4d}: FID {r['fid']:7.1f}, {r['modes']} classes, {blank} blank of {args.samples}, "
              f"fit {fit:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
