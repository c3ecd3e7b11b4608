"""Training speed: each trainer against its reference in the same run, on this CPU or one limited to AVX2.

Both train the report's G/D on MNIST with the non-saturating loss, batch 128,
Adam 2e-4, for one epoch (or ``--steps``), in the same process, same seed:

* reference: ``torchvision.datasets.MNIST`` + ``ToTensor`` + ``DataLoader``
  (PIL decode per sample), the report's layers as it wrote them (every one a convolution),
  D ending in ``Sigmoid`` and ``nn.BCELoss``, D's weight gradients computed in the G step too,
  default memory format;
* companion routes: `companion.train.GANTrainer` (uint8 tensor in memory, batches by
  indexing, logits + softplus, channels-last, G's first layer and D's last computed as the matrix
  products they are on their 1x1 and 3x3 inputs, D frozen in the G step, fused Adam on CUDA) in
  float32, and in bf16 autocast where the hardware runs it natively (``--precision auto``),
  and with ``--compile`` also under torch.compile.

Prints images/s of every route, its ratio to the reference, and the FID of every generator
after the same steps (classifier features, 5,000 samples) as a sanity check that speed costs
no quality. The quality comparison across seeds is ``benchmarks/precision.py``.
With ``--full`` it also times the chapter's 3 losses x 20 epochs (meant for a GPU).

The Glow and GLO routes (``--models``) time today's trainer against the step as it was written before
this benchmark's changes (the Glow: nflows' own layers, `companion.models.glow.build_glow` with
``fast=False``; GLO: its generator in the default memory format), from the same weights and batches,
and check that the result after the same steps is the same (held-out bits/dim within 0.01; GLO's loss).

Every route is timed in ``--pairs`` alternated pairs (reference, then companion) and the median ratio is
printed: one pair varies by 0.25 on a shared machine. ``--isa avx2`` runs the whole benchmark again in a
process whose PyTorch kernels (``ATEN_CPU_CAPABILITY``) and oneDNN (``ONEDNN_MAX_CPU_ISA``) are limited to
AVX2 (and MKL's matrix products, ``MKL_ENABLE_INSTRUCTIONS``): an AVX2 CPU's float32 code paths on this machine
(not an AVX2 CPU's memory system). The header says
what the machine is (read from /proc/cpuinfo) and what the kernels used.

    python benchmarks/train_speed.py --data-dir ../shared/data
    python benchmarks/train_speed.py --data-dir ../shared/data --isa avx2 --models gan,glow,glo
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch import nn


def reference_epoch(data_dir: str, device: torch.device, steps: int | None, seed: int) -> tuple[float, nn.Module]:
    """The report's loop; returns (images/s, generator)."""
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision.transforms import ToTensor

    from companion.models import dcgan_init
    from companion.models.report28 import ReportDiscriminator, ReportGenerator

    torch.manual_seed(seed)
    ds = torchvision.datasets.MNIST(data_dir, train=True, download=False, transform=ToTensor())
    loader = DataLoader(ds, batch_size=128, shuffle=True, drop_last=True)
    # The report's networks as it wrote them, every layer a convolution (companion's modules compute the
    # first and last layers as matrix products, which is one of the speed-ups measured here).
    report_g = ReportGenerator().apply(dcgan_init).to(device)
    G = nn.Sequential(nn.Unflatten(1, (100, 1, 1)), report_g.net)
    D = nn.Sequential(ReportDiscriminator().net, nn.Flatten(0), nn.Sigmoid()).apply(dcgan_init).to(device)
    bce = nn.BCELoss()
    og = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))

    def step(x: torch.Tensor) -> None:
        ones, zeros = torch.ones(x.shape[0], device=device), torch.zeros(x.shape[0], device=device)
        fake = G(torch.randn(x.shape[0], 100, device=device))
        d_loss = bce(D(x), ones) + bce(D(fake.detach()), zeros)
        od.zero_grad()
        d_loss.backward()
        od.step()
        g_loss = bce(D(fake), ones)
        og.zero_grad()
        g_loss.backward()
        og.step()

    if steps == 0:  # one step under the FLOP counter (see step_flops), nothing timed
        _FLOPS["reference"] = step_flops(lambda: step(next(iter(loader))[0].to(device)))
        return 0.0, report_g.eval()
    n, t0 = 0, time.perf_counter()
    for i, (x, _) in enumerate(loader):
        if steps is not None and i >= steps:
            break
        step(x.to(device))
        n += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0), report_g.eval()


#: Floating-point operations of one training step per route, filled by `reference_epoch` and `flow_steps`
#: when called with ``steps=0``.
_FLOPS: dict[str, int] = {}


def step_flops(fn) -> int:
    """Floating-point operations (a multiply-add counts 2) of the matrix products and convolutions that ``fn``
    runs, forward and backward: `torch.utils.flop_counter.FlopCounterMode`, which counts at the operator level
    (so a convolution computed as a matrix product counts the same)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


#: Every `matmul_peak` measurement of this run: a shared machine's rate varies (146-183 GFLOP/s natively in
#: one day's runs), so the ceilings use the fastest, measured between the timed pairs.
_PEAKS: list[float] = []


def matmul_peak(n: int = 1024, repeats: int = 5) -> float:
    """GFLOP/s of a float32 n x n matrix product on this machine (the best of ``repeats`` timings of 10 each):
    the rate its best-tuned kernel reaches, a practical ceiling for the convolutions of a training step. Returns
    the fastest of this and every earlier measurement of the run."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(10):
            a @ b
        best = min(best, (time.perf_counter() - t0) / 10)
    _PEAKS.append(2 * n**3 / best / 1e9)
    return max(_PEAKS)


def at_peak(flops: int, per_second: float, peak: float) -> tuple[float, float]:
    """(GFLOP/s a step of ``flops`` reached at ``per_second`` steps a second, the steps a second it would make if
    every operation ran at ``peak`` GFLOP/s and nothing else cost time)."""
    return flops * per_second / 1e9, peak * 1e9 / flops


def ceiling(
    name: str, flops: int, per_second: float, ref_per_second: float, peak: float, unit: str, ref: str = "the reference"
) -> str:
    """One line: a step's GFLOP, the rate it reached, and the ratio it could reach at most (every operation at
    the matrix product's rate, nothing else costing time) against the reference's measured speed."""
    reached, best = at_peak(flops, per_second, peak)
    return (f"{name}: {flops / 1e9:.2f} GFLOP per step, run at {reached:.0f} GFLOP/s ({reached / peak:.0%} of the "
            f"matrix product's {peak:.0f}); at that rate alone it would make {best:.2f} {unit}, at most "
            f"{best / ref_per_second:.2f}x {ref}")  # fmt: skip


def companion_run(
    data_dir: str,
    device: torch.device,
    epochs: int,
    steps: int | None,
    seed: int,
    loss: str = "nonsaturating",
    compile_: str = "off",
    precision: str = "fp32",
) -> tuple[float, float, nn.Module]:
    """The project's trainer; returns (images/s, seconds, generator)."""
    from companion.config import make_config
    from companion.data import load_dataset
    from companion.losses import get_loss
    from companion.models import ArchSpec, build_gan
    from companion.train import GANTrainer

    cfg = make_config(
        None,
        dataset="mnist",
        epochs=epochs,
        fid_samples=0,
        seed=seed,
        device=str(device.type),
        compile=compile_,
        precision=precision,
    )
    data = load_dataset("mnist", "train", data_dir)
    if steps is not None:
        data = data.subset(steps * cfg.batch_size)
    torch.manual_seed(seed)
    G, D = build_gan(ArchSpec("report28", 1, 100))
    fmt = torch.channels_last
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)
    with tempfile.TemporaryDirectory() as tmp:
        tr = GANTrainer(
            G, D, get_loss(loss), data.to(device), cfg, Path(tmp), device=device, precision=precision, progress=False
        )
        t0 = time.perf_counter()
        tr.fit()
        seconds = time.perf_counter() - t0
        recs = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    ips = [r["images_per_s"] for r in recs if r["type"] == "epoch"]
    return sum(ips) / len(ips), seconds, G.eval()


def companion_flops(data_dir: str, device: torch.device) -> int:
    """FLOPs of one float32 step of `companion.train.GANTrainer` (the report's pair, batch 128)."""
    from companion.config import make_config
    from companion.data import load_dataset
    from companion.losses import get_loss
    from companion.models import ArchSpec, build_gan
    from companion.train import GANTrainer

    data = load_dataset("mnist", "train", data_dir).subset(256).to(device)
    G, D = build_gan(ArchSpec("report28", 1, 100))
    G, D = G.to(device, memory_format=torch.channels_last), D.to(device, memory_format=torch.channels_last)
    cfg = make_config(None, dataset="mnist", fid_samples=0, device=str(device.type), precision="fp32")
    with tempfile.TemporaryDirectory() as tmp:
        tr = GANTrainer(G, D, get_loss("nonsaturating"), data, cfg, Path(tmp), device=device, progress=False)
        batch = next(iter(data.batches(128, torch.Generator().manual_seed(0))))
        return step_flops(lambda: tr._train_step(batch, torch.zeros(6, device=device)))


def flow_steps(data_dir: str, steps: int, fast: bool, seed: int = 0) -> tuple[float, nn.Module]:
    """``steps`` Glow training steps (book preset, batch 64, float32) with today's layers (``fast``) or nflows' own.

    Returns (steps/s, the flow). The same seed gives the same weights, batches and dequantisation noise to both.
    """
    import math

    from companion.data import load_dataset
    from companion.density import bits_per_dim, dequantise, learning_rate, make_flow_config
    from companion.models.glow import build_glow

    cfg = make_flow_config("book", precision="fp32")
    data = load_dataset("mnist", "train", data_dir)
    torch.manual_seed(seed)
    flow = build_glow(cfg.spec(1, 28), fast=fast)
    opt = torch.optim.Adam(flow.parameters(), lr=cfg.lr)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    noise = torch.Generator().manual_seed(seed + 1)
    flow.train()

    def step(i: int) -> None:
        x = dequantise(data.images[order[i * 64 : (i + 1) * 64]], noise)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, i + 1, 10**9)
        loss = bits_per_dim(flow.log_prob(x), 784).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), cfg.clip if cfg.clip > 0 else math.inf)
        opt.step()

    step(0)  # ActNorm's data-dependent initialisation happens here, outside the count
    if steps == 0:  # one step under the FLOP counter (see step_flops), nothing timed
        _FLOPS["glow" if fast else "glow reference"] = step_flops(lambda: step(1))
        return 0.0, flow.eval()
    step(1)  # two warm-up steps (ActNorm's initialisation, first allocations) are not timed
    t0 = time.perf_counter()
    for i in range(2, steps + 2):
        step(i)
    return steps / (time.perf_counter() - t0), flow.eval()


def glo_steps(data_dir: str, steps: int, channels_last: bool, seed: int = 0) -> tuple[float, float]:
    """``steps`` GLO steps (book settings, 10,000 digits), G channels-last (today) or not; (images/s, loss)."""
    from companion.data import load_dataset
    from companion.glo import glo_step, make_glo_config, pca_codes
    from companion.models import ArchSpec, build_generator

    cfg = make_glo_config("book")
    images = load_dataset("mnist", "train", data_dir).images[:10000]
    torch.manual_seed(seed)
    G = build_generator(ArchSpec("report28", 1, cfg.latent_dim))
    if channels_last:
        G = G.to(memory_format=torch.channels_last)
    codes = nn.Embedding(len(images), cfg.latent_dim, sparse=True)
    with torch.no_grad():
        codes.weight.copy_(pca_codes(images, cfg.latent_dim, seed))
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=(0.5, 0.999))
    opt_z = torch.optim.SparseAdam(codes.parameters(), cfg.lr_z)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    G.train()
    t0, loss = None, None
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
        loss = glo_step(G, codes, opt_g, opt_z, images[idx].float() / 255, idx, cfg.levels)
    return steps * cfg.batch_size / (time.perf_counter() - t0), float(loss[0])


def profile_tables(data_dir: str, rows: int = 15) -> None:
    """Where the float32 time goes: torch.profiler's table (self CPU time per operator) of the GAN step and the
    Glow step, each over a few steps after a warm-up."""
    from torch.profiler import ProfilerActivity, profile

    from companion.config import make_config
    from companion.data import load_dataset
    from companion.density import bits_per_dim, dequantise, make_flow_config
    from companion.losses import get_loss
    from companion.models import ArchSpec, build_gan
    from companion.models.glow import build_glow
    from companion.train import GANTrainer

    data = load_dataset("mnist", "train", data_dir).subset(128 * 12)
    torch.manual_seed(0)
    G, D = build_gan(ArchSpec("report28", 1, 100))
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(None, dataset="mnist", fid_samples=0, device="cpu", precision="fp32")
        tr = GANTrainer(G, D, get_loss("nonsaturating"), data, cfg, Path(tmp), device=torch.device("cpu"),
                        precision="fp32", progress=False)  # fmt: skip
        batches = list(data.batches(128, torch.Generator().manual_seed(0)))
        row = torch.zeros(6)
        for b in batches[:2]:
            tr._train_step(b, row)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for b in batches[2:12]:
                tr._train_step(b, row)
    print("GAN step, float32, 10 steps of batch 128 (self CPU time by operator):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))
    cfg = make_flow_config("book", precision="fp32")
    torch.manual_seed(0)
    flow = build_glow(cfg.spec(1, 28))
    opt = torch.optim.Adam(flow.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(1)

    def step(i: int) -> None:
        loss = bits_per_dim(flow.log_prob(dequantise(data.images[i * 64 : (i + 1) * 64], g)), 784).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(0)
    step(1)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(2, 7):
            step(i)
    print("Glow step, float32, 5 steps of batch 64 (self CPU time by operator):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def gan_routes(args: argparse.Namespace, device: torch.device, native: str, out: dict) -> None:
    """The GAN: the report's loop against the trainer (float32; bf16 where native), alternated pairs; FID beside."""
    routes = {"companion fp32": ("fp32", "off")}
    if native == "bf16":
        routes["companion bf16 (auto)"] = ("bf16", "off")
    if args.compile != "off":
        routes[f"companion {native} + compile {args.compile}"] = (native, args.compile)
    ratios: dict[str, list[float]] = {name: [] for name in routes}
    speeds: dict[str, list[float]] = {name: [] for name in ["reference", *routes]}
    generators: dict[str, nn.Module] = {}
    for pair in range(args.pairs):
        ref_ips, generators["reference"] = reference_epoch(args.data_dir, device, args.steps, 0)
        speeds["reference"].append(ref_ips)
        print(f"pair {pair + 1}: {'reference (DataLoader + ToTensor + Sigmoid/BCELoss)':<52} {ref_ips:8.0f} images/s")
        for name, (precision, comp) in routes.items():
            ips, _, generators[name] = companion_run(args.data_dir, device, 1, args.steps, 0, compile_=comp,
                                                     precision=precision)  # fmt: skip
            ratios[name].append(ips / ref_ips)
            speeds[name].append(ips)
            print(f"pair {pair + 1}: {name:<52} {ips:8.0f} images/s   {ips / ref_ips:.2f}x the reference", flush=True)
        if device.type == "cpu":
            matmul_peak()
    for name, r in ratios.items():
        print(
            f"{name}: median {_median(r):.2f}x the reference over {len(r)} pairs ({', '.join(f'{v:.2f}' for v in r)})"
        )
        out[name] = {"ratios": r, "median": _median(r), "images_per_s": speeds[name]}
    out["reference"] = {"images_per_s": speeds["reference"]}
    if device.type == "cpu":  # how far float32 can go on this CPU at all: the work per step against its peak
        reference_epoch(args.data_dir, device, 0, 0)
        flops = {"reference": _FLOPS["reference"], "companion fp32": companion_flops(args.data_dir, device)}
        peak = matmul_peak()
        ref_steps = _median(speeds["reference"]) / 128
        for name, f in flops.items():
            print(ceiling(f"GAN {name}", f, _median(speeds[name]) / 128, ref_steps, peak, "steps/s"))
        out["flops"] = {**flops, "matmul_peak_gflops": peak}
    try:
        from companion.data import load_dataset
        from companion.metrics import FIDScorer, get_classifier

        clf = get_classifier("mnist", args.data_dir, device)
        scorer = FIDScorer(clf, load_dataset("mnist", "test", args.data_dir).images, device)
        print("FID after the same steps (classifier features, 5,000 samples; one seed: a sanity check, not a ranking):")
        for name, G in generators.items():
            fid = scorer.score_generator(G, 5000, 100)["fid"]
            out.setdefault(name, {})["fid"] = fid
            print(f"  {name:<50} {fid:8.1f}")
    except Exception as exc:  # the speed numbers stand without it
        print(f"(FID comparison skipped: {exc})")


def other_models(args: argparse.Namespace, out: dict) -> None:
    """The Glow and GLO routes: today's step against the reference step, in alternated pairs; quality beside."""
    models = args.models.split(",")
    if "glow" in models:
        from companion.data import load_dataset
        from companion.density import score_bpd

        steps = args.flow_steps
        ratios, flows, todays, refs = [], {}, [], []
        for _ in range(args.pairs):
            ref, flows["reference"] = flow_steps(args.data_dir, steps, fast=False)
            refs.append(ref)
            new, flows["companion"] = flow_steps(args.data_dir, steps, fast=True)
            ratios.append(new / ref)
            todays.append(new)
            matmul_peak()
            print(f"Glow, float32 step (batch 64): nflows' layers {ref:.2f} steps/s, today's {new:.2f}: "
                  f"{new / ref:.2f}x", flush=True)  # fmt: skip
        flow_steps(args.data_dir, 0, fast=True)
        peak = matmul_peak()
        print(ceiling("Glow, today's step", _FLOPS["glow"], _median(todays), _median(todays), peak, "steps/s",
                      "today's step"))  # fmt: skip
        out["glow_flops"] = {"companion": _FLOPS["glow"], "matmul_peak_gflops": peak}
        test = load_dataset("mnist", "test", args.data_dir).images[:2000]
        bpd = {k: float(score_bpd(f, test, draws=1, seed=0).mean()) for k, f in flows.items()}
        print(f"Glow: median {_median(ratios):.2f}x over {args.pairs} pairs; after {steps} steps the first 2,000 "
              f"test digits score {bpd['reference']:.4f} and {bpd['companion']:.4f} bits/dim")  # fmt: skip
        out["glow"] = {"ratios": ratios, "median": _median(ratios), "bpd": bpd, "steps": steps,
                       "steps_per_s": {"reference": refs, "companion": todays}}  # fmt: skip
    if "glo" in models:
        ratios, losses, speeds = [], {}, {"reference": [], "companion": []}
        for _ in range(args.pairs):
            ref, losses["reference"] = glo_steps(args.data_dir, args.glo_steps, channels_last=False)
            new, losses["companion"] = glo_steps(args.data_dir, args.glo_steps, channels_last=True)
            ratios.append(new / ref)
            speeds["reference"].append(ref)
            speeds["companion"].append(new)
            print(f"GLO step (batch 128): default memory format {ref:.0f} images/s, channels-last {new:.0f}: "
                  f"{new / ref:.2f}x", flush=True)  # fmt: skip
        print(f"GLO: median {_median(ratios):.2f}x; loss after {args.glo_steps} steps {losses['reference']:.5f} "
              f"and {losses['companion']:.5f}")  # fmt: skip
        out["glo"] = {"ratios": ratios, "median": _median(ratios), "loss": losses, "images_per_s": speeds}


def _column(r: dict) -> str:
    """A results file's machine, as the table's column header: the kernels it ran and whether bf16 was native."""
    isa = "AVX2" if r["onednn_max_isa"].upper() == "AVX2" else r["kernels"]
    return f"{isa} kernels, {'native bf16' if r['native_bf16'] else 'float32 only'}"


def speed_table(results: list[dict]) -> str:
    """The book's speed table (Markdown), one column per results file written by ``--json``: medians over the
    alternated pairs, each ratio against its reference in the same run, and the float32 ceilings (`ceiling`)."""

    def cells(r: dict) -> list[str]:
        ref_steps = _median(r["reference"]["images_per_s"]) / 128
        gan_steps = _median(r["companion fp32"]["images_per_s"]) / 128
        gan_flops, gan_peak = r["flops"]["companion fp32"], r["flops"]["matmul_peak_gflops"]
        glow = r["glow"]
        glow_steps = _median(glow["steps_per_s"]["companion"])
        glow_flops, glow_peak = r["glow_flops"]["companion"], r["glow_flops"]["matmul_peak_gflops"]
        bf16 = r.get("companion bf16 (auto)")

        def rate(flops: int, per_second: float, peak: float) -> str:
            reached, _ = at_peak(flops, per_second, peak)
            return f"{flops / 1e9:.2f} GFLOP at {reached:.0f} GFLOP/s ({reached / peak:.0%} of {peak:.0f})"

        return [
            f"{ref_steps * 128:,.0f} images/s",
            " / ".join(
                f"{r[k]['fid']:.0f}" for k in ("reference", "companion fp32", "companion bf16 (auto)") if k in r
            ),
            f"{gan_steps * 128:,.0f} images/s, {r['companion fp32']['median']:.2f}x",
            f"{_median(bf16['images_per_s']):,.0f} images/s, {bf16['median']:.2f}x" if bf16 else "(no native bf16)",
            rate(gan_flops, gan_steps, gan_peak),
            f"{at_peak(gan_flops, gan_steps, gan_peak)[1] / ref_steps:.2f}x",
            f"{glow_steps:.2f} steps/s, {glow['median']:.2f}x",
            rate(glow_flops, glow_steps, glow_peak),
            f"{at_peak(glow_flops, glow_steps, glow_peak)[1] / glow_steps:.2f}x",
            f"{glow['bpd']['reference']:.4f} / {glow['bpd']['companion']:.4f}",
            f"{_median(r['glo']['images_per_s']['companion']):,.0f} images/s, {r['glo']['median']:.2f}x",
        ]

    labels = [
        "GAN: the report's loop (the reference)",
        "GAN: FID after the same steps, loop / float32 / bf16 (one seed: nothing broke, not a ranking)",
        "GAN: this trainer, float32",
        "GAN: this trainer, bf16 autocast (`--precision auto`)",
        "GAN float32 step: work, and the rate it ran at (share of the matrix product's)",
        "GAN float32: the most any trainer of this step could reach against the reference",
        "Glow float32 step: today's layers, against nflows' own",
        "Glow float32 step: work, and the rate it ran at (share of the matrix product's)",
        "Glow float32: the most any faster step could reach against today's",
        "Glow: bits/dim after the same steps, nflows' layers / today's",
        "GLO step: channels-last, against the default memory layout",
    ]
    columns = [cells(r) for r in results]
    lines = ["| | " + " | ".join(_column(r) for r in results) + " |", "|---" * (len(results) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(c[i] for c in columns) + " |" for i, label in enumerate(labels)]
    return "\n".join(lines) + "\n"


def _header() -> dict:
    import os

    from companion.device import cpu_has_native_bf16, cpu_summary

    info = {
        "machine": cpu_summary(),
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "unlimited"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "native_bf16": cpu_has_native_bf16() and os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() != "AVX2",
    }
    print(f"machine: {info['machine']}; PyTorch kernels: {info['kernels']}; oneDNN limited to: "
          f"{info['onednn_max_isa']}; native bf16 used: {info['native_bf16']}")  # fmt: skip
    return info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--isa", choices=("native", "avx2"), default="native",
                   help="avx2: rerun limited to AVX2 kernels (an AVX2 CPU's float32 code paths)")  # fmt: skip
    p.add_argument("--models", default="gan", help="comma-separated: gan, glow, glo")
    p.add_argument("--pairs", type=int, default=3, help="alternated (reference, companion) pairs per route")
    p.add_argument("--flow-steps", type=int, default=30)
    p.add_argument("--glo-steps", type=int, default=60)
    p.add_argument("--profile", action="store_true", help="print where the float32 time of a GAN and a Glow step goes")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=None, help="steps per run (default: one full epoch, 468 steps)")
    p.add_argument("--full", action="store_true", help="also time 3 losses x 20 epochs (meant for a GPU)")
    p.add_argument("--compile", choices=("off", "default", "reduce-overhead"), default="off",
                   help="add a torch.compile route in this mode")  # fmt: skip
    p.add_argument("--json", type=Path, help="write the numbers here too")
    p.add_argument("--table", nargs="+", type=Path, metavar=("OUT", "JSON"),
                   help="write the book's table to OUT from files written by --json (runs nothing)")  # fmt: skip
    args = p.parse_args()
    if args.table:
        from companion.fsutil import atomic_write

        text = speed_table([json.loads(f.read_text()) for f in args.table[1:]])
        atomic_write(args.table[0], lambda f: f.write(text.encode()))
        return
    import os
    import subprocess
    import sys

    if args.isa == "avx2" and os.environ.get("ATEN_CPU_CAPABILITY") != "avx2":
        env = {
            **os.environ,
            "ATEN_CPU_CAPABILITY": "avx2",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        }
        raise SystemExit(subprocess.run([sys.executable, *sys.argv], env=env).returncode)
    from companion.device import resolve_device, resolve_precision

    info = _header()
    device = resolve_device(args.device)
    native = resolve_precision("auto", device) if info["native_bf16"] or device.type != "cpu" else "fp32"
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, auto precision {native}")
    out: dict = {"device": str(device), "threads": torch.get_num_threads(), **info}
    if args.profile:
        profile_tables(args.data_dir)
    if "gan" in args.models.split(","):
        gan_routes(args, device, native, out)
    other_models(args, out)
    if args.full:
        total = 0.0
        for loss in ("minimax", "nonsaturating", "lsgan"):
            _, sec, _ = companion_run(args.data_dir, device, 20, None, 0, loss, compile_=args.compile, precision=native)
            print(f"{loss}: 20 epochs in {sec:.1f} s")
            total += sec
        print(f"3 losses x 20 epochs: {total:.1f} s")
        out["full_3x20_seconds"] = total
    out["matmul_peaks_gflops"] = _PEAKS  # every measurement of the run; the ceilings use the fastest
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
