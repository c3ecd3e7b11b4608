"""Chapter 5: GLO, the report's generator trained without a discriminator, sampled two ways and used as a prior.

Trains GLO (`companion.glo`, the same code as ``companion glo train``) on MNIST; fits its two
samplers (a full-covariance Gaussian over the codes, a mixture of them, GLANN's IMLE mapper); measures FID,
classes covered and blank samples beside chapter 1's GAN on the same number of samples; inverts and restores the
same held-out test digits with both generators under chapters 2 and 3's solver and budget; and
shows what the Gaussian over codes is a density of. Writes ``docs/assets/glo/``.

    python -m companion.chapters.glo                  # the book's run (about an hour of CPU the first time)
    python -m companion.chapters.glo --preset quick   # the whole chapter in minutes

Runs live in ``runs/glo/<preset>/``; a stopped chapter continues where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch

from companion.artifacts import image_grid, new_figure, save_figure, write_json
from companion.chapters.common import (
    Chapter,
    add_model_options,
    cached,
    content_key,
    duration,
    markdown_table,
    write_text,
)
from companion.errors import CompanionError

__all__ = ["CHAPTER", "PRIOR_TASKS", "main"]

#: The held-out problems both generators are asked to solve (chapter 2's inversion, chapter 3's headline tasks).
PRIOR_TASKS = {
    "inversion": ("identity", 0),
    "denoising σ = 0.5": ("denoise", 0.5),
    "inpainting 14x14": ("box", 14),
    "super-resolution 4x": ("superres", 4),
}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=("quick", "book"), default="book")
    p.add_argument("--n", type=int, default=None, help="held-out test digits for the prior comparison (default 100)")
    add_model_options(p, "chapter 1's GAN, the comparison")


def _assets(args: argparse.Namespace) -> Path:
    from companion.chapters.common import DOCS

    return DOCS / "assets" / "glo" / ("" if args.preset == "book" else "quick")


def _ensure_glo(cfg, out: Path, args: argparse.Namespace, imle_cfg=None) -> dict[str, Any]:
    """Train, resume or reuse one GLO run, and make sure its samplers are fitted and stored in its checkpoint."""
    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.glo import GLOConfig, run_glo_training
    from companion.latent_samplers import IMLEConfig, store_samplers
    from companion.rundir import is_run
    from companion.runlog import RunLog

    imle_cfg = imle_cfg or IMLEConfig()
    done = RunLog(out / "metrics.jsonl").read("epoch")
    summary = None
    if (out / "summary.json").is_file() and len(done) == cfg.epochs:
        saved = GLOConfig(**json.loads((out / "config.json").read_text())["config"])
        if dataclasses.replace(saved, device=cfg.device) == cfg:
            summary = json.loads((out / "summary.json").read_text())
    if summary is None:
        resume = (out / "ckpt.pt").is_file()
        explicit = {f.name for f in dataclasses.fields(GLOConfig)} - {"device"}
        summary = run_glo_training(
            cfg, out, data_dir=args.data_dir, resume=resume, overwrite=not resume and is_run(out), explicit=explicit,
            progress=not args.no_progress, command=f"python -m companion.chapters.glo --preset {args.preset}",
        )  # fmt: skip
    stored = load_checkpoint(out / "ckpt.pt", GLO_FORMAT).get("samplers")
    if stored is None or stored.get("imle", {}).get("config") != dataclasses.asdict(imle_cfg) or "gmm" not in stored:
        store_samplers(out / "ckpt.pt", imle_cfg, args.data_dir, progress=not args.no_progress)
    return summary


def ensure_seed(args: argparse.Namespace, seed: int) -> Path:
    """The book preset's GLO run for another training seed (``runs/glo/book/seed<k>``), trained now if missing."""
    from companion.glo import make_glo_config

    out = Path("runs") / "glo" / "book" / f"seed{seed}"
    _ensure_glo(make_glo_config("book", dataset="mnist", device=args.device, seed=seed), out, args)
    return out / "ckpt.pt"


def _operator(task: str, option: float, n: int):
    from companion.restoration import Identity, make_task

    return Identity((1, 28, 28)) if task == "identity" else make_task(task, option, n)


def compute(args: argparse.Namespace) -> dict[str, Any]:
    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.data import load_dataset
    from companion.device import resolve_device
    from companion.encoder import generator_fingerprint
    from companion.experiment import generate, load_generator
    from companion.glo import make_glo_config
    from companion.latent_samplers import GaussianCodes, IMLEConfig, MixtureConfig, load_samplers
    from companion.metrics import FIDScorer, blank_samples, get_classifier, psnr
    from companion.restoration import restore

    device = resolve_device(args.device)
    tag = "dry" if args.dry_run else args.preset
    quick = args.preset == "quick" or args.dry_run
    if args.dry_run:
        cfg = make_glo_config(None, dataset="synthetic", epochs=2, device=args.device)
    else:
        cfg = make_glo_config(args.preset, dataset="mnist", device=args.device)
    out = args.runs / tag / "seed0"
    imle_cfg = IMLEConfig() if not quick else IMLEConfig(epochs=2 if args.dry_run else 10)
    summary = _ensure_glo(cfg, out, args, imle_cfg)
    G_glo, _, _ = load_generator(out / "ckpt.pt", device)
    glo_ck = load_checkpoint(out / "ckpt.pt", GLO_FORMAT)
    codes, laws = glo_ck["codes"], load_samplers(glo_ck)
    from companion.chapters.inversion import chapter_generator

    gan = chapter_generator(args) if not (args.dry_run and args.generator is None) else None
    if gan is not None and (str(gan).startswith("book:") or Path(gan).is_file()):
        G_gan, _, _ = load_generator(gan, device)
    elif args.dry_run:
        from companion.models import ArchSpec, build_generator

        torch.manual_seed(0)
        G_gan = build_generator(ArchSpec("report28", 1, 100)).to(device).eval()
    else:
        raise CompanionError(f"no generator at {args.generator}: run chapter 1 first or pass --generator")
    n_gen = 5000 if not quick else (256 if args.dry_run else 2000)
    n = args.n or (100 if not quick else (8 if args.dry_run else 30))
    if n <= 0:
        raise CompanionError(f"--n must be positive, got {n}")
    dataset = cfg.dataset
    train = load_dataset(dataset, "train", args.data_dir).subset(cfg.train_subset).images
    test = load_dataset(dataset, "test", args.data_dir).images
    key = content_key(glo=generator_fingerprint(G_glo), gan=generator_fingerprint(G_gan), n=n, n_gen=n_gen,
                      imle=dataclasses.asdict(imle_cfg), mixture=dataclasses.asdict(MixtureConfig()))  # fmt: skip

    def samples_and_fid() -> dict[str, Any]:
        history = glo_ck["samplers"]["imle"]["history"].tolist()
        sets = {
            "GAN (chapter 1), z ~ N(0, I)": generate(G_gan, n_gen, 100, seed=0, device=device),
            "GLO, Gaussian over its codes": generate(G_glo, n_gen, 100, seed=0, device=device, codes=laws["gaussian"]),
            "GLO, IMLE mapper (GLANN)": generate(G_glo, n_gen, 100, seed=0, device=device, codes=laws["imle"]),
            "GLO, mixture of Gaussians over its codes": generate(
                G_glo, n_gen, 100, seed=0, device=device, codes=laws["gmm"]),
            "GLO, z ~ N(0, I) (no fitted sampler)": generate(G_glo, n_gen, 100, seed=0, device=device),
            "GLO reconstructions of training digits": generate(
                G_glo, n_gen, 100, device=device, codes=_rows(codes[:n_gen])),
        }  # fmt: skip
        clf = get_classifier("synthetic" if args.dry_run else "mnist", args.data_dir, device, not args.no_progress)
        scorer = FIDScorer(clf, test, device)
        fid = {k: {**scorer.score_images(v), "blank": blank_samples(v)} for k, v in sets.items()}
        with torch.no_grad():
            rec = G_glo(codes[:16].to(device)).cpu()
        return {
            "fid": {k: {"fid": v["fid"], "modes": v["modes"], "blank": v["blank"]} for k, v in fid.items()},
            "shown": {k: v[:36] for k, v in sets.items()},
            "imle_history": torch.tensor(history),
            "recon": rec,
            "train16": train[:16],
        }

    samples = cached(args.runs / tag / "samples.pt", key, samples_and_fid)

    x = test[:n].float().div(255).to(device)
    from companion.chapters.restoration import GAN_PRIOR

    solver = GAN_PRIOR if not quick else dataclasses.replace(GAN_PRIOR, steps=20 if args.dry_run else 150, restarts=2)
    prior_rows, kept = [], {}
    for label, (task, option) in PRIOR_TASKS.items():
        op = _operator(task, option, n)
        y = op.degrade(x, seed=1)
        for gname, G in (("GAN", G_gan), ("GLO", G_glo)):
            ckey = content_key(task=label, n=n, solver=dataclasses.asdict(solver), g=generator_fingerprint(G))

            def solve(G=G, y=y, op=op) -> dict[str, Any]:
                res = restore(G, y, op, solver)
                return {"images": res.images.cpu(), "z": res.z.cpu()}

            slug = f"prior_{gname}_{task}_{n}.pt"
            r = cached(args.runs / tag / slug, ckey, solve)
            p = psnr(r["images"], x.cpu())
            prior_rows.append({"task": label, "prior": gname, "psnr": float(p.mean()),
                               "se": float(p.std() / math.sqrt(len(p))), "values": p})  # fmt: skip
            kept[(label, gname)] = r
    # p(x)? The Gaussian over codes scores the codes that GLO's inversion found for held-out digits.
    gauss = GaussianCodes.fit(codes)
    test_codes = kept[("inversion", "GLO")]["z"]
    density = {"train": gauss.log_density(codes[:5000]), "test (inverted)": gauss.log_density(test_codes)}
    z0 = codes[:1].to(device).requires_grad_(False)
    J = torch.autograd.functional.jacobian(lambda z: G_glo(z).flatten(), z0).reshape(-1, z0.shape[1])
    sv = torch.linalg.svdvals(J.double().cpu())
    return {
        **samples, "prior_rows": prior_rows, "density": density, "test_images": x.cpu(), "singular_values": sv,
        "summary": summary, "cfg": cfg, "n": n, "n_gen": n_gen, "solver": solver, "out": out, "imle_cfg": imle_cfg,
    }  # fmt: skip


def _rows(z: torch.Tensor):
    """A 'sampler' that hands out the given codes in order (the reconstructions row of the FID table)."""
    state = {"i": 0}

    def take(k: int, _g: torch.Generator) -> torch.Tensor:
        out = z[state["i"] : state["i"] + k]
        state["i"] += k
        return out

    return take


def draw(results: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    assets: Path = args.assets
    summary, n, n_gen = results["summary"], results["n"], results["n_gen"]

    fig, axes = new_figure(1, 2, 6.5, 1.4)
    axes[0][0].imshow(image_grid(results["train16"], nrow=16, padding=1), cmap="gray", vmin=0, vmax=255)
    axes[0][0].set_ylabel("training\ndigits", fontsize=8)
    axes[1][0].imshow(image_grid(results["recon"], nrow=16, padding=1), cmap="gray", vmin=0, vmax=1)
    axes[1][0].set_ylabel("GLO\nG(z_i)", fontsize=8)
    for ax in (axes[0][0], axes[1][0]):
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, assets / "reconstructions.png")

    shown = {k: v for k, v in results["shown"].items() if "reconstructions" not in k}
    fig, axes = new_figure(len(shown), 1, 2.8, 3.2)
    for ax, (name, imgs) in zip(axes[0], shown.items()):
        ax.imshow(image_grid(imgs, nrow=6, padding=1), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        f = results["fid"][name]
        ax.set_title(f"{name}\nFID {f['fid']:.1f}, {f['modes']} classes", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, assets / "samples.png")
    rows = [{"samples": k, "fid": v["fid"], "modes": v["modes"], "blank": v.get("blank", "")}
            for k, v in results["fid"].items()]  # fmt: skip
    write_text(assets / "samples.md", markdown_table(
        rows, [("samples", f"{n_gen:,} images"), ("fid", "FID (classifier features)"), ("modes", "classes covered"),
               ("blank", "blank samples")], bold={"fid": "min"}))  # fmt: skip

    table = []
    for label in PRIOR_TASKS:
        r = {x["prior"]: x for x in results["prior_rows"] if x["task"] == label}
        diff = r["GLO"]["values"] - r["GAN"]["values"]
        table.append({
            "task": label, "gan": f"{r['GAN']['psnr']:.2f} ± {r['GAN']['se']:.2f}",
            "glo": f"{r['GLO']['psnr']:.2f} ± {r['GLO']['se']:.2f}",
            "diff": f"{float(diff.mean()):+.2f} ± {float(diff.std() / math.sqrt(len(diff))):.2f}",
            "wins": f"{int((diff > 0).sum())} / {len(diff)}",
        })  # fmt: skip
    write_text(assets / "prior.md", markdown_table(table, [
        ("task", f"held-out test digits ({n})"), ("gan", "GAN prior, PSNR dB"), ("glo", "GLO prior, PSNR dB"),
        ("diff", "GLO - GAN, paired"), ("wins", "digits where GLO is better"),
    ]))  # fmt: skip

    # What the Gaussian over codes ranks: held-out digits by the density of the code GLO's inversion found.
    dens = results["density"]["test (inverted)"]
    order = dens.argsort()
    imgs = results["test_images"]
    fig, axes = new_figure(1, 2, 6.0, 1.4)
    for ax, idx, label in ((axes[0][0], order[:8], "lowest"), (axes[1][0], order.flip(0)[:8], "highest")):
        ax.imshow(image_grid(imgs[idx], nrow=8, padding=1), cmap="gray", vmin=0, vmax=1)
        ax.set_ylabel(f"{label}\ncode density", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, assets / "code_density.png")

    sv = results["singular_values"]
    numbers = {
        "epochs": summary["epochs"], "train_minutes": summary["train_seconds"] / 60,
        "recon_psnr_fixed": summary["final"]["recon_psnr"], "parameters": summary["parameters"],
        "codes": summary["codes"], "fid": results["fid"], "prior": table, "n_prior": n, "n_samples": n_gen,
        "jacobian": {"shape": [784, int(sv.shape[0])], "largest": float(sv[0]), "smallest": float(sv[-1]),
                     "rank_1e-6": int((sv > 1e-6 * sv[0]).sum())},
        "code_log_density": {k: {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
                             for k, v in results["density"].items()},
        "imle_final_distance": float(results["imle_history"][-1]),
    }  # fmt: skip
    write_json(numbers, assets / "results.json")
    solver = results["solver"]
    settings = {"preset": args.preset, "epochs": results["cfg"].epochs, "samples": n_gen, "held_out_digits": n,
                "solver": f"{solver.steps} steps x {solver.restarts} restarts"}  # fmt: skip
    note = (f"GLO training time: {duration(summary['train_seconds'])} ({summary['epochs']} epochs); "
            "one model of each kind (GLO seed 0, chapter 1's GAN seed 0).")  # fmt: skip
    return settings, note


CHAPTER = Chapter(
    name="glo",
    description="Chapter 5: GLO, trained without a discriminator, sampled two ways and used as a prior",
    compute=compute,
    draw=draw,
    arguments=_arguments,
    assets=_assets,
)


def main(argv: list[str] | None = None) -> int:
    return CHAPTER.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
