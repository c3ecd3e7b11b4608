"""The comparison chapter's measurements (`companion.chapters.compare`), each cached by fingerprints and settings.

Every function takes the chapter's ``work`` dictionary (the priors, the test and validation digits, the
preset) and returns table rows: plain numbers, per-image values where a paired comparison needs them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import torch

from companion.chapters.common import cached, content_key
from companion.encoder import generator_fingerprint
from companion.inversion import InversionConfig
from companion.metrics import blank_samples, psnr

__all__ = ["inversion_rows", "ood_rows", "restoration_rows", "sample_rows"]


def _fp(prior) -> str:
    return generator_fingerprint(prior.decoder)


def _samplers_fp(prior, ref) -> str:
    """A digest of a GLO checkpoint's fitted samplers ("" for other kinds): refitting them changes its samples
    while G, and so `_fp`, stays the same."""
    if prior.kind != "glo":
        return ""
    from companion.checkpoint import GLO_FORMAT, content_digest, load_checkpoint

    return content_digest({"samplers": load_checkpoint(ref, GLO_FORMAT).get("samplers")})


def _stats(values: torch.Tensor) -> dict[str, Any]:
    v = values.double()
    se = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"psnr": float(v.mean()), "se": se, "values": values.float().cpu()}


def _solver(work: dict, cell: str) -> InversionConfig:
    """Chapter 3's GAN-prior budget for a cell (full for its two headline cells), shortened in quick and dry runs."""
    from companion.chapters.restoration import GAN_PRIOR, GAN_PRIOR_LIGHT, HEADLINE

    cfg = GAN_PRIOR if cell in HEADLINE else GAN_PRIOR_LIGHT
    if work["tag"] == "quick":
        cfg = dataclasses.replace(cfg, steps=100, restarts=2)
    elif work["tag"] == "dry":
        cfg = dataclasses.replace(cfg, steps=5, restarts=2)
    return cfg


# ----------------------------------------------------------------------------------------------- samples


def _sample_sets(prior, ref, n: int, device) -> dict[str, torch.Tensor]:
    """n samples per latent law of a model: z ~ N(0, I) (GAN), each fitted sampler (GLO), T = 1 and 0.7 (flow)."""
    from companion.experiment import generate

    if prior.kind == "flow":
        from companion.density import sample_flow

        return {f"T = {t}": sample_flow(prior.decoder.flow, n, t, seed=0, device=device) for t in (1.0, 0.7)}
    if prior.kind == "gan":
        return {"z ~ N(0, I)": generate(prior.decoder, n, prior.latent_dim, 0, device=device)}
    from companion.checkpoint import GLO_FORMAT, load_checkpoint
    from companion.latent_samplers import load_samplers

    laws = load_samplers(load_checkpoint(ref, GLO_FORMAT))
    names = {"imle": "IMLE mapper (GLANN)", "gmm": "mixture of Gaussians over its codes",
             "gaussian": "Gaussian over its codes"}  # fmt: skip
    return {
        names.get(name, name): generate(prior.decoder, n, prior.latent_dim, 0, device=device, codes=law)
        for name, law in laws.items()
    }


def sample_rows(work: dict, seed_runs: dict[str, list]) -> dict[str, Any]:
    """FID, classes covered and blank samples of every model and latent law; seeds 1.. of chapter 1's GAN and GLO."""
    from companion.chapters.glow import histogram_bpd
    from companion.comparison import histogram_samples
    from companion.density import score_bpd
    from companion.metrics import FIDScorer, get_classifier
    from companion.priors import load_prior

    p, device, test, train = work["p"], work["device"], work["test"], work["train"]
    dataset = "synthetic" if work["tag"] == "dry" else "mnist"
    scorer_box: dict[str, Any] = {}

    def scorer():
        if "s" not in scorer_box:
            clf = get_classifier(dataset, work["args"].data_dir, device, False)
            scorer_box["s"] = FIDScorer(clf, test.images, device)
        return scorer_box["s"]

    def score(images: torch.Tensor) -> dict[str, Any]:
        r = scorer().score_images(images)
        blank = blank_samples(images)
        return {"fid": r["fid"], "classes": r["modes"], "blank": blank}

    rows = []
    for label, prior in work["priors"].items():
        refs = [work["models"][label], *seed_runs.get(label, [])]
        per_seed: dict[str, list[dict]] = {}
        for ref in refs:
            pr = prior if ref is refs[0] else load_prior(ref, device)
            key = content_key(model=_fp(pr), samplers=_samplers_fp(pr, ref), n=p["n_gen"], what="samples",
                              dataset=dataset)  # fmt: skip

            def compute(pr=pr, ref=ref) -> dict[str, Any]:
                t0 = time.perf_counter()
                sets = _sample_sets(pr, ref, p["n_gen"], device)
                seconds = time.perf_counter() - t0
                return {"scores": {k: score(v) for k, v in sets.items()}, "shown": {k: v[:36] for k, v in sets.items()},
                        "seconds": seconds}  # fmt: skip

            saved = cached(work["cache"] / f"samples_{_fp(pr)}.pt", key, compute)
            for law, s in saved["scores"].items():
                per_seed.setdefault(law, []).append({**s, "shown": saved["shown"][law]})
        for law, runs in per_seed.items():
            fids = [r["fid"] for r in runs]
            rows.append({
                "model": label, "law": law, "seeds": len(runs), "fid": sum(fids) / len(fids), "fid_values": fids,
                "fid_sd": float(torch.tensor(fids).std()) if len(fids) > 1 else None,
                "classes": min(r["classes"] for r in runs), "blank": sum(r["blank"] for r in runs),
                "samples": p["n_gen"], "shown": runs[0]["shown"],
            })  # fmt: skip
    base = cached(work["cache"] / "samples_baselines.pt", content_key(n=p["n_gen"], what="baselines", d=dataset),
                  lambda: {"floor": score(train.images[: p["n_gen"]]),
                           "histogram": score(histogram_samples(train.images, p["n_gen"]))})  # fmt: skip
    flow = next((pr for pr in work["priors"].values() if pr.kind == "flow"), None)
    bpd = {"histogram": histogram_bpd(train.images, test.images)}
    if flow is not None:
        key = content_key(model=_fp(flow), what="bpd", n=len(test))
        bpd["flow"] = cached(work["cache"] / "bpd.pt", key,
                             lambda: {"bpd": score_bpd(flow.decoder.flow, test.images, draws=1, seed=0,
                                                       device=device)})["bpd"]  # fmt: skip
    return {"rows": rows, "baselines": base, "bpd": bpd}


# ----------------------------------------------------------------------------------------------- inversion


def inversion_rows(work: dict) -> list[dict[str, Any]]:
    """Inversion PSNR of the held-out digits: chapter 2's optimiser (8 starts x 500 steps) or a flow's exact code."""
    from companion.comparison import nearest_training

    x, rows = work["x"], []
    cfg = InversionConfig(steps=500, restarts=8, patience=0)
    if work["tag"] != "book":
        cfg = dataclasses.replace(cfg, steps=5 if work["tag"] == "dry" else 100, restarts=2)
    for label, prior in work["priors"].items():
        key = content_key(model=_fp(prior), n=len(x), cfg=dataclasses.asdict(cfg), what="inversion")

        def solve(prior=prior) -> dict[str, Any]:
            res = prior.invert(x, cfg)
            return {"values": psnr(res.images, x).cpu(), "seconds": res.seconds, "images": res.images.cpu()}

        r = cached(work["cache"] / f"inversion_{_fp(prior)}.pt", key, solve)
        how = "exact: z = f(x)" if prior.exact else f"{cfg.restarts} starts x {cfg.steps} steps"
        rows.append({"model": label, **_stats(r["values"]), "seconds_per_image": r["seconds"] / len(x),
                     "exact": prior.exact, "images": r["images"], "how": how})  # fmt: skip
    near = nearest_training(x.cpu(), work["train"].images)
    rows.append({"model": "nearest training digit", **_stats(psnr(near, x.cpu())), "seconds_per_image": None,
                 "exact": False, "images": near, "how": f"search of {len(work['train']):,} digits"})  # fmt: skip
    return rows


# ----------------------------------------------------------------------------------------------- restoration


def _restore_cell(work: dict, cell: str, task: str, option: float, x, x_val, grid, gammas: dict, tag: str):
    """Every prior and the classical baselines on one task; the flow's gamma tuned on ``x_val`` (or given)."""
    from companion.chapters.restoration import classical_baselines
    from companion.comparison import tune_prior
    from companion.restoration import make_task

    shape = tuple(x.shape[1:])
    op, op_val = make_task(task, option, len(x), shape, seed=0), make_task(task, option, len(x_val), shape, seed=0)
    y, y_val = op.degrade(x, seed=1), op_val.degrade(x_val, seed=2)
    p, rows = work["p"], []
    ckey = content_key(cell=cell, n=len(x), nv=len(x_val), what=f"classical{tag}")
    classical = cached(
        work["cache"] / f"classical{tag}_{cell}.pt",
        ckey,
        lambda: {
            "outs": {k: v.cpu() for k, v in classical_baselines(task, option, op, y, y_val, x_val, op_val).items()}
        },
    )
    shown = {"degraded": op.view(y).cpu()}
    for name, img in {"degraded input": op.view(y).cpu(), **classical["outs"]}.items():
        rows.append({"task": cell, "method": name, "classical": name != "degraded input",
                     **_stats(psnr(img.clamp(0, 1), x.cpu()))})  # fmt: skip
    for label, prior in work["priors"].items():
        gamma = None
        if prior.kind == "flow":
            if cell in gammas:
                gamma, scores = gammas[cell], None
            else:
                tkey = content_key(model=_fp(prior), cell=cell, grid=grid, nv=len(x_val), steps=p["tune_steps"])
                tuned = cached(
                    work["cache"] / f"tune_{cell}.pt",
                    tkey,
                    lambda prior=prior: dict(
                        zip(("gamma", "scores"), tune_prior(prior, op_val, x_val, y_val, grid, steps=p["tune_steps"]))
                    ),
                )
                gamma, scores = tuned["gamma"], tuned["scores"]
                gammas[cell] = gamma
            cfg = prior.config(op, prior_weight=gamma, steps=p["flow_steps"])
        else:
            cfg, scores = _solver(work, cell), None
        key = content_key(model=_fp(prior), cell=cell, n=len(x), cfg=dataclasses.asdict(cfg), what=f"restore{tag}")

        def solve(prior=prior, cfg=cfg) -> dict[str, Any]:
            res = prior.restore(y, op, cfg)
            return {"images": res.images.cpu(), "seconds": res.seconds}

        r = cached(work["cache"] / f"restore{tag}_{_fp(prior)}_{cell}.pt", key, solve)
        rows.append({"task": cell, "method": label, "classical": False, "gamma": gamma, "tuning": scores,
                     "seconds_per_image": r["seconds"] / len(x), "budget": f"{cfg.restarts} x {cfg.steps}",
                     **_stats(psnr(r["images"], x.cpu()))})  # fmt: skip
        shown[label] = r["images"]
    best = max((r for r in rows if r["classical"]), key=lambda r: r["psnr"])
    shown["classical"] = classical["outs"][best["method"]]
    return rows, shown


def restoration_rows(work: dict, tasks: dict, grid) -> dict[str, Any]:
    """Restoration PSNR of every prior on every task, the classical baselines, and the flow's tuned gammas."""
    rows, shown, gammas = [], {}, {}
    for cell, (task, option) in tasks.items():
        r, s = _restore_cell(work, cell, task, option, work["x"], work["x_val"], grid, gammas, "")
        rows += r
        shown[cell] = s
    return {"rows": rows, "shown": shown, "gammas": gammas}


def ood_rows(work: dict, grid) -> dict[str, Any]:
    """Fashion-MNIST images denoised (sigma 0.1) through the MNIST-trained priors; the flow keeps its MNIST gamma."""
    from companion.data import load_dataset, make_synthetic

    p = work["p"]
    if work["tag"] == "dry":
        fashion = make_synthetic(p["n"] + p["n_val"], seed=9)
        fashion = type(fashion)(fashion.images.flip(-1), fashion.labels, "synthetic")
    else:
        fashion = load_dataset("fashion-mnist", "test", work["args"].data_dir)
    x = fashion.float_images(slice(0, p["n"])).to(work["device"])
    x_val = fashion.float_images(slice(len(fashion) - p["n_val"], len(fashion))).to(work["device"])
    gammas = {"noise σ=0.1 (Fashion-MNIST)": work.get("gamma_mnist_sigma01")} if work.get("gamma_mnist_sigma01") else {}
    rows, shown = _restore_cell(work, "noise σ=0.1 (Fashion-MNIST)", "denoise", 0.1, x, x_val, grid, gammas, "_ood")
    return {"rows": rows, "shown": shown, "x": x.cpu(), "gammas": gammas}
