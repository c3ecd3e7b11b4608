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

``--codes``, ``--stored`` and ``--markdown`` give chapter 5's table of FID beside precision and recall
(`companion.coverage`), on a GLO run trained again with the book's settings (``book:glo`` ships without its codes):

    python benchmarks/glo_samplers.py --checkpoint runs/glo/book/seed0/ckpt.pt --codes --stored --k \\
        --imle 16:60:100 32:100:100 --samples 5000 --markdown docs/assets/glo/samplers_pr.md

On that run (2026-12-07; FID, precision, recall): G on its training codes 5.1, 0.887, 0.879; the stored IMLE
mapper 45.9, 0.882, 0.408; the mixture 26.6, 0.830, 0.689. IMLE loses recall, not precision. A noise as
wide as the codes with more candidates and epochs, where the 20-epoch trial above had lost with a wider noise,
buys it back: 16 candidates, 60 epochs 30.8 (recall 0.534, 4.5-4.7 min); 32 candidates, 100 epochs 28.1
(recall 0.608, 14.7-16.6 min; two runs, the same numbers).

``--imle C:E:D:S`` matches S codes at once against one shared pool of S x C samples (Li & Malik's schedule;
``IMLEConfig.match_size``), and a trailing ``c`` decays the learning rate on a cosine; ``--blend K`` decodes a
random training code averaged with its K - 1 nearest codes, the blend IMLE's averaging makes. Chapter 5's
table, on a GLO run trained again on another day (2026-12-08, the same settings):

    python benchmarks/glo_samplers.py --checkpoint runs/glo/book/seed0/ckpt.pt --codes --k 100 \\
        --imle 4:100 16:30:100 4:30:100:16384 4:60:100:16384c --samples 5000 --markdown docs/assets/glo/samplers_pr.md
    python benchmarks/glo_samplers.py --checkpoint runs/glo/book/seed0/ckpt.pt --k --blend 1 2 5 10 30 \\
        --samples 5000 --markdown docs/assets/glo/samplers_blend.md

Same run, same script: a pool twice as large (``4:30:100:32768``) gave FID 30.6, precision 0.766, recall
0.747, in 11.3 min (more recall, less precision than 16,384 codes per pool). The same pool of 65,536 as
16 candidates for 4,096 codes (``16:30:100:4096``, pairs at most 16 steps old, not 64): 26.9, precision
0.775, recall 0.727, 8.0 min; so the pairs' age is not what costs the precision.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="a GLO run's ckpt.pt (with its training codes)")
    p.add_argument("--k", type=int, nargs="*", default=[1, 10, 25, 50, 100, 200])
    p.add_argument("--imle", nargs="*", default=[], metavar="C:E[:D[:S]][c]",
                   help="IMLE: candidates:epochs[:noise dimensions[:codes per shared pool]]; c: cosine")  # fmt: skip
    p.add_argument("--blend", type=int, nargs="*", default=[], metavar="K",
                   help="G at the mean of a random training code and its K - 1 nearest codes")  # fmt: skip
    p.add_argument("--stored", action="store_true", help="also score the samplers stored in the checkpoint")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--codes", action="store_true", help="also score G on training codes drawn at random (the ceiling)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--markdown", type=Path, default=None, help="also write a Markdown table, the command under it")
    args = p.parse_args()

    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.coverage import classifier_features, precision_recall
    from companion.data import load_dataset
    from companion.glo import project_to_sphere
    from companion.latent_samplers import MixtureCodes, MixtureConfig, train_imle
    from companion.metrics import FIDScorer, blank_samples, get_classifier
    from companion.models import ArchSpec, build_generator
    from companion.pixels import to_uint8

    start = time.perf_counter()
    ck = load_checkpoint(args.checkpoint, GLO_FORMAT)
    G = build_generator(ArchSpec(**ck["meta"]["arch"]))
    G.load_state_dict(ck["generator"])
    G.eval()
    codes = ck["codes"].float()
    reference = load_dataset("mnist", "train", args.data_dir).images[:10000]
    classifier = get_classifier("mnist", args.data_dir, "cpu", False)
    scorer = FIDScorer(classifier, reference)
    real = classifier_features(classifier, reference[: args.samples])

    def training_codes(n: int, g: torch.Generator) -> torch.Tensor:
        return codes[torch.randint(0, len(codes), (n,), generator=g)]

    def blend(k: int):
        """Each sample: a random training code averaged with its k - 1 nearest codes, put back on the sphere."""

        def sample(n: int, g: torch.Generator) -> torch.Tensor:
            z = training_codes(n, g)
            near = torch.cat([torch.cdist(part, codes).topk(k, largest=False).indices for part in z.split(1000)])
            return project_to_sphere(codes[near].mean(1))

        return sample

    fits = [("training codes", lambda: training_codes)] * args.codes
    fits += [(f"blend {k}", lambda k=k: blend(k)) for k in args.blend]
    if args.stored:
        from companion.latent_samplers import load_samplers

        fits += [(f"stored {name}", lambda law=law: law) for name, law in load_samplers(ck).items()]
    fits += [(f"k = {k:4d}", lambda k=k: MixtureCodes.fit(codes, MixtureConfig(components=k)).sample) for k in args.k]
    for spec, cfg in [(spec, _imle_config(spec)) for spec in args.imle]:  # every spec checked before any fit
        fits.append((f"IMLE {spec}", lambda cfg=cfg: train_imle(codes, cfg)[0].sample))
    rows: list[list[str]] = []
    for name, fit in fits:
        t0 = time.perf_counter()
        sample = fit()
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            z = sample(args.samples, torch.Generator().manual_seed(0))
            images = to_uint8(torch.cat([G(b) for b in z.split(1000)]))
        r = scorer.score_images(images)
        pr = precision_recall(real, classifier_features(classifier, images))
        blank = blank_samples(images)
        print(f"{name}: FID {r['fid']:7.1f}, precision {pr['precision']:.3f}, recall {pr['recall']:.3f}, "
              f"{r['modes']} classes, {blank} blank of {args.samples}, fit {seconds:.0f} s")  # fmt: skip
        rows.append([_label(name), f"{r['fid']:.1f}", f"{pr['precision']:.3f}", f"{pr['recall']:.3f}",
                     str(r["modes"]), str(blank), f"{seconds / 60:.1f}"])  # fmt: skip
    if args.markdown is not None:
        import shlex

        from companion.chapters.common import generated_by, write_text

        header = ["latent sampler", "FID", "precision (k = 3)", "recall (k = 3)", "classes", "blank", "fit (min)"]
        lines = ["| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows]]
        command = shlex.join(["python", "benchmarks/glo_samplers.py", *sys.argv[1:]])
        lines += ["", generated_by(command, time.perf_counter() - start)]
        write_text(args.markdown, "\n".join(lines) + "\n")
    return 0


def _imle_config(spec: str):
    """``C:E[:D[:S]][c]`` as an `IMLEConfig`: what a spec leaves out is what the book's first mapper did (16-d
    noise, a pool per batch, a constant learning rate)."""
    from companion.latent_samplers import IMLEConfig

    c, e, *d = (int(v) for v in spec.removesuffix("c").split(":"))
    return IMLEConfig(candidates=c, epochs=e, noise_dim=d[0] if d else 16, match_size=d[1] if len(d) > 1 else 0,
                      schedule="cosine" if spec.endswith("c") else "constant")  # fmt: skip


def _label(name: str) -> str:
    """A results row's sampler, in words: ``IMLE 16:60:100`` -> ``IMLE: 100-d noise, 16 candidates, 60 epochs``."""
    if name.startswith("IMLE "):
        cfg = _imle_config(name[5:])
        pool = f", pools of {cfg.match_size * cfg.candidates:,} for {cfg.match_size:,} codes" if cfg.match_size else ""
        cosine = ", cosine" if cfg.schedule == "cosine" else ""
        return f"IMLE: {cfg.noise_dim}-d noise, {cfg.candidates} candidates, {cfg.epochs} epochs{pool}{cosine}"
    if name.startswith("blend "):
        k = int(name[6:])
        return "a training code" if k == 1 else f"mean of a code and its {k - 1} nearest"
    if name.startswith("k = "):
        return f"mixture, {name[4:].strip()} components"
    return {"stored imle": "IMLE as stored: 16-d noise, 4 candidates, 100 epochs",
            "stored gmm": "mixture as stored, 100 components", "stored gaussian": "one Gaussian as stored",
            "training codes": "G on its training codes"}.get(name, name)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
