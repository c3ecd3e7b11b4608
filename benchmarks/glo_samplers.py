"""How many components GLO's mixture sampler needs: FID of each choice on training digits, never the test digits.

Fits `companion.latent_samplers.MixtureCodes` with k components to a GLO run's codes (its checkpoint holds the
60,000 training codes; ``book:glo`` does not ship them), draws samples, decodes them with the run's G and scores
them in the book's classifier features against the first 10,000 MNIST training digits. Prints one line per k:
FID, classes covered, blank samples (brightest pixel below grey level 32) and the seconds the fit took.

    python benchmarks/glo_samplers.py --checkpoint runs/glo/book/seed0/ckpt.pt --k 1 10 25 50 100 200

On the book run (2026-12-07, 2,000 samples): k = 1 322.9 (9 classes), 10: 90.0, 25: 51.4, 50: 34.1,
100: 29.9, 200: 26.4 (10 classes, no blank sample from k = 10 on); the book uses 100.

``--imle C:E ...`` fits GLANN's IMLE mapper instead, with C noise candidates per code for E epochs
(`companion.latent_samplers.IMLEConfig`), scored the same way:

    python benchmarks/glo_samplers.py --checkpoint runs/glo/book/seed0/ckpt.pt --k --imle 4:100 16:20 --samples 5000

On the book run (2026-12-07, 5,000 samples, measured with a one-off script of the same code before this
route existed, sampling seed 1): the stored mapper (4:100) 43.4; 4:20 53.5 (81 s); 16:20 43.0 (315 s); a
64-dimensional noise (4:20, leaky units) 61.4, so the 16 dimensions stay. Li & Malik's original schedule
in the same script (a pool of 4 x 60,000 noise vectors, each code's nearest sample fixed as its pair for 3
epochs of regression, 10 rounds, 560 s) gave 42.9. More candidates buy in 20 epochs what 4 buy in 100, at
about the same cost; none of these goes below about 43, where the mixture reaches 29.9 (k = 100 above).
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="a GLO run's ckpt.pt (with its training codes)")
    p.add_argument("--k", type=int, nargs="*", default=[1, 10, 25, 50, 100, 200])
    p.add_argument("--imle", nargs="*", default=[], metavar="C:E", help="IMLE mappers: candidates:epochs")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()

    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.data import load_dataset
    from companion.latent_samplers import IMLEConfig, MixtureCodes, MixtureConfig, train_imle
    from companion.metrics import FIDScorer, blank_samples, get_classifier
    from companion.models import ArchSpec, build_generator
    from companion.pixels import to_uint8

    ck = load_checkpoint(args.checkpoint, GLO_FORMAT)
    G = build_generator(ArchSpec(**ck["meta"]["arch"]))
    G.load_state_dict(ck["generator"])
    G.eval()
    codes = ck["codes"].float()
    reference = load_dataset("mnist", "train", args.data_dir).images[:10000]
    scorer = FIDScorer(get_classifier("mnist", args.data_dir, "cpu", False), reference)
    fits = [(f"k = {k:4d}", lambda k=k: MixtureCodes.fit(codes, MixtureConfig(components=k)).sample) for k in args.k]
    for spec in args.imle:
        c, e = (int(v) for v in spec.split(":"))
        fits.append((f"IMLE {c}:{e}", lambda c=c, e=e: train_imle(codes, IMLEConfig(candidates=c, epochs=e))[0].sample))
    for name, fit in fits:
        t0 = time.perf_counter()
        sample = fit()
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            z = sample(args.samples, torch.Generator().manual_seed(0))
            images = to_uint8(torch.cat([G(b) for b in z.split(1000)]))
        r = scorer.score_images(images)
        print(f"{name}: FID {r['fid']:7.1f}, {r['modes']} classes, {blank_samples(images)} blank of "
              f"{args.samples}, fit {seconds:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
