r"""Exact likelihood of 8-bit images with a Glow: dequantisation, bits per dimension, training, scoring, sampling.

**Dequantisation.** A flow has a density on continuous space; an image has D integer grey levels
$x \in \{0, \dots, 255\}^D$. Adding uniform noise, $x_c = (x + u) / 256$ with $u \sim U[0, 1)^D$,
gives continuous data in $(0, 1)^D$, and for the discrete model
$P(x) = \int_{[0,1)^D} p\big((x + u)/256\big)\, 256^{-D}\, du$, Jensen's inequality gives the bound
(Theis et al., 2016)

$$
-\log_2 P(x) \;\le\; \mathbb E_u\big[-\log p(x_c)\big] / \ln 2 + D \log_2 256 ,
$$

so the number reported, **bits per dimension**, is

$$
\text{bpd}(x) = \frac{\mathbb E_u[-\ln p(x_c)]}{D \ln 2} + 8 ,
$$

with $\ln p(x_c)$ the flow's exact log-density (its logit preprocessing counted) and $D = 784$ for a
28x28 image. The expectation is a mean over K draws of u from a fixed seed (`score_bpd`).
A per-pixel histogram (each pixel its own 256-way distribution, no dependence between pixels)
already scores 1.69 bits/dim on the MNIST test digits; a flow is read against that.

Training minimises the mean bpd of dequantised batches on the book's one training scaffold
(`companion.loop.run_epochs`: progress, the guard, the metrics log), with Adam after a linear
warm-up, gradient clipping, a checkpoint after every epoch (atomic, resumed exactly) and the
bits/dim of held-out images after every epoch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from companion.checkpoint import load_checkpoint, load_state, require_finite, save_atomic
from companion.errors import CheckpointError, ConfigError, DataError
from companion.models.glow import COUPLINGS, GlowSpec, build_glow, set_precision
from companion.options import check_choice, check_finite_positive, check_nonnegative, check_positive, check_seed
from companion.pixels import to_uint8

__all__ = [
    "FLOW_FORMAT",
    "FLOW_PRESETS",
    "FlowConfig",
    "bits_per_dim",
    "dequantise",
    "learning_rate",
    "load_flow",
    "make_flow_config",
    "run_flow_training",
    "sample_flow",
    "score_bpd",
    "to_grey_levels",
    "train_flow",
]

FLOW_FORMAT = "companion-flow/1"
FLOW_KEYS = ("spec", "config", "epoch", "flow", "opt", "rng")
FLOW_DATASETS = ("mnist", "fashion-mnist", "synthetic")


# --8<-- [start:config]
@dataclass(frozen=True)
class FlowConfig:
    """Everything that defines a flow training run (defaults: the book's MNIST Glow)."""

    dataset: str = "mnist"  # mnist | fashion-mnist | synthetic
    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3  # Adam's step after the warm-up
    warmup: int = 500  # steps of linear warm-up from 0
    schedule: str = "cosine"  # cosine (decay to 0 over the run's epochs) | constant
    clip: float = 50.0  # gradient norm clipping (0: off)
    levels: int = 2  # squeeze + K steps each, a split between levels
    depth: int = 8  # K, steps of flow per level
    hidden: int = 64  # channels of each coupling's residual net
    blocks: int = 1  # residual blocks per coupling net
    coupling: str = "affine"  # affine | spline
    eval_images: int = 2000  # test images scored after every epoch (one dequantisation draw)
    train_subset: int = 0  # the first N training images only (0: all)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # of the coupling nets only: auto (bf16 where native) | fp32 | bf16
    # --8<-- [end:config]

    def __post_init__(self) -> None:
        from companion.device import DEVICES, PRECISIONS

        check_choice("dataset", self.dataset, FLOW_DATASETS)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("coupling", self.coupling, COUPLINGS)
        check_choice("schedule", self.schedule, ("cosine", "constant"))
        check_choice("device", self.device, DEVICES)
        check_positive(self, "epochs", "batch_size", "levels", "depth", "hidden", "blocks")
        check_finite_positive(self, "lr")
        check_nonnegative(self, "warmup", "clip", "eval_images", "train_subset")
        check_seed(self)

    def spec(self, channels: int = 1, image_size: int = 28) -> GlowSpec:
        return GlowSpec(channels, image_size, self.levels, self.depth, self.hidden, self.blocks, self.coupling)


FLOW_PRESETS: dict[str, dict[str, Any]] = {
    # A few CPU minutes: a small Glow, two epochs over a third of the data.
    "quick": {"epochs": 2, "depth": 4, "hidden": 32, "train_subset": 20000, "eval_images": 1000},
    # The book's run (see the chapter page for its time on 2 CPU cores).
    "book": {"epochs": 20},
}


def make_flow_config(preset: str | None = None, **overrides: Any) -> FlowConfig:
    """A validated `FlowConfig` from a preset and ``--key value`` overrides (None: not given)."""
    from companion.options import parse_value

    values: dict[str, Any] = {}
    if preset is not None:
        check_choice("preset", preset, FLOW_PRESETS)
        values.update(FLOW_PRESETS[preset])
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = parse_value(key, raw, FlowConfig)
    return dataclasses.replace(FlowConfig(), **values)


# --8<-- [start:bpd]
def dequantise(images: Tensor, generator: torch.Generator) -> Tensor:
    """x_c = (x + u) / 256 with u ~ U[0, 1): uint8 (B, C, H, W) -> float (B, C, H, W) in (0, 1)."""
    u = torch.rand(images.shape, generator=generator).to(images.device)
    return (images.float() + u) / 256


def bits_per_dim(log_prob: Tensor, dim: int) -> Tensor:
    """bpd = -ln p(x_c) / (D ln 2) + log2 256 per image, from the flow's log-density of x_c in (0, 1)^D (nats)."""
    return -log_prob / (dim * math.log(2)) + 8.0


# --8<-- [end:bpd]


def to_grey_levels(x: Tensor) -> Tensor:
    """The inverse of the dequantisation: x_c in (0, 1) -> the grey level floor(256 x_c), uint8 0..255."""
    return (x.float() * 256).floor().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def score_bpd(
    flow: nn.Module, images: Tensor, draws: int = 1, seed: int = 0, batch: int = 500, device: str | torch.device = "cpu"
) -> Tensor:
    """Bits per dimension of every image, each the mean over ``draws`` dequantisation draws from ``seed``.

    Args:
        flow: A flow on (0, 1)^D (`companion.models.glow.build_glow`), in eval mode.
        images: (N, C, H, W), uint8 0..255 or float in [0, 1] (quantised to 8 bits first).
        draws: K, dequantisation draws averaged per image.
        seed: Seed of the draws (the same images with the same seed give the same numbers).

    Returns:
        (N,) float64 bits per dimension, on the CPU.
    """
    x = to_uint8(images).cpu()
    dim = x[0].numel()
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(x.shape[0], dtype=torch.float64)
    flow.eval()
    for _ in range(draws):
        for start in range(0, x.shape[0], batch):
            chunk = dequantise(x[start : start + batch], g).to(device)
            lp = flow.log_prob(chunk).double().cpu()
            total[start : start + batch] += bits_per_dim(lp, dim)
    return total / draws


@torch.no_grad()
def sample_flow(flow: nn.Module, n: int, temperature: float = 1.0, seed: int = 0, device: str = "cpu") -> Tensor:
    """n images from the flow, z ~ N(0, T^2 I) mapped back: uint8 (n, C, H, W) grey levels.

    A temperature T < 1 (Kingma & Dhariwal, 2018) trades diversity for cleaner samples.
    """
    g = torch.Generator().manual_seed(seed)
    dim = flow._distribution._shape[0]
    z = (temperature * torch.randn(n, dim, generator=g)).to(device)
    flow.eval()
    with warnings.catch_warnings():  # nflows' LU inverse calls the deprecated (still exact) triangular_solve
        warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")
        x, _ = flow._transform.inverse(z)
    return to_grey_levels(x.cpu())


def learning_rate(cfg: FlowConfig, step: int, total: int) -> float:
    r"""Adam's step at global step t (1-based) of T steps: a linear warm-up over w steps, then a cosine decay.

    $\eta_t = \eta \min(1, t / w) \cdot \tfrac12 (1 + \cos(\pi t / T))$; without the decay
    (``schedule="constant"``) the last factor is 1. It depends on t alone, so a resumed run takes
    the same steps as an uninterrupted one.
    """
    warm = min(1.0, step / cfg.warmup) if cfg.warmup else 1.0
    decay = 0.5 * (1 + math.cos(math.pi * min(step, total) / total)) if cfg.schedule == "cosine" else 1.0
    return cfg.lr * warm * decay


def _build(cfg: FlowConfig, channels: int, size: int) -> tuple[nn.Module, GlowSpec]:
    spec = cfg.spec(channels, size)
    return build_glow(spec), spec


def load_flow(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[nn.Module, GlowSpec, dict]:
    """Rebuild the flow of a ``companion flow train`` checkpoint, in eval mode.

    Returns:
        (flow, its GlowSpec, the checkpoint's config dict).

    Raises:
        CheckpointError: missing, corrupt, altered, another kind (a GAN's, say), or non-finite weights.
    """
    ck = load_checkpoint(path, FLOW_FORMAT, keys=("spec", "config", "flow"))
    try:
        spec = GlowSpec(**ck["spec"])
    except (TypeError, ConfigError):
        raise CheckpointError(f"{path} has no valid flow architecture") from None
    require_finite(ck["flow"], path, "flow")
    flow = build_glow(spec)
    load_state(flow, ck["flow"], path, "flow")
    return flow.to(device).eval(), spec, ck["config"]


def train_flow(
    cfg: FlowConfig,
    train: Tensor,
    test: Tensor,
    out: Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a Glow by maximum likelihood and write its run folder (already prepared by the caller).

    Args:
        cfg: Settings.
        train: (N, C, H, W) uint8 training images (CPU).
        test: (M, C, H, W) uint8 held-out images; the first ``cfg.eval_images`` are scored every epoch.
        out: Run folder: ``config.json`` (by the caller), ``metrics.jsonl``, ``ckpt.pt``, ``summary.json``.
        resume: Continue from ``out/ckpt.pt`` exactly (models, optimiser, RNG states, step).

    Returns:
        The summary written to ``summary.json``.

    Raises:
        ConfigError: the batch is larger than the data.
        TrainingDiverged: the bits/dim became NaN or infinite (the last good checkpoint stays).
    """
    from companion.artifacts import write_json
    from companion.data import ImageSet
    from companion.device import resolve_device, resolve_precision
    from companion.loop import Guard, run_epochs, steps_per_epoch
    from companion.runlog import RunLog

    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    if train.dtype != torch.uint8 or train.ndim != 4:
        raise DataError("train_flow needs uint8 (N, C, H, W) images")
    steps = steps_per_epoch(train.shape[0], cfg.batch_size)
    torch.manual_seed(cfg.seed)
    flow, spec = _build(cfg, train.shape[1], train.shape[2])
    flow = flow.to(device)
    set_precision(flow, precision)
    opt = torch.optim.Adam(flow.parameters(), lr=cfg.lr)
    data_rng = torch.Generator().manual_seed(cfg.seed)
    noise_rng = torch.Generator().manual_seed(cfg.seed + 1)
    ckpt, log = out / "ckpt.pt", RunLog(out / "metrics.jsonl")
    state = {"epoch": 0, "step": 0}
    if resume:
        ck = load_checkpoint(ckpt, FLOW_FORMAT, keys=FLOW_KEYS)
        load_state(flow, ck["flow"], ckpt, "flow")
        opt.load_state_dict(ck["opt"])
        data_rng.set_state(ck["rng"]["data"])
        noise_rng.set_state(ck["rng"]["noise"])
        torch.set_rng_state(ck["rng"]["torch"])
        state["epoch"] = int(ck["epoch"])
        state["step"] = state["epoch"] * steps
        log.trim(state["epoch"])
    data = ImageSet(train.to(device), None, cfg.dataset)
    held_out = test[: cfg.eval_images]
    total = cfg.epochs * steps

    def step(x: Tensor, row: Tensor) -> None:
        # batches() hands out floats in [0, 1]; dequantise the grey levels they came from.
        xc = dequantise(to_uint8(x), noise_rng)
        state["step"] += 1
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, state["step"], total)
        loss = bits_per_dim(flow.log_prob(xc), spec.dim).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(flow.parameters(), cfg.clip if cfg.clip > 0 else math.inf)
        opt.step()
        row.copy_(torch.stack([loss.detach(), norm.detach().float()]))

    def save(epoch: int) -> None:
        state["epoch"] = epoch
        save_atomic(
            {
                "format": FLOW_FORMAT,
                "spec": spec.to_dict(),
                "config": dataclasses.asdict(cfg),
                "epoch": epoch,
                "flow": flow.state_dict(),
                "opt": opt.state_dict(),
                "rng": {"data": data_rng.get_state(), "noise": noise_rng.get_state(), "torch": torch.get_rng_state()},
            },
            ckpt,
        )

    def end_epoch(epoch: int, rows: Tensor) -> dict[str, Any]:
        if held_out.shape[0] == 0:
            return {}
        bpd = score_bpd(flow, held_out, draws=1, seed=1234, device=device)
        flow.train()
        return {"test_bpd": float(bpd.mean())}

    flow.train()
    run_epochs(
        fields=("bpd", "grad_norm"),
        step=step,
        batches=lambda: data.batches(cfg.batch_size, data_rng),
        steps=steps,
        start=state["epoch"],
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        device=device,
        guard=Guard(watch=("bpd",), finite=("grad_norm",)),
        log=log,
        save=save,
        checkpoint=ckpt,
        end_epoch=end_epoch,
        progress=progress,
        desc="flow",
        log_every=25,
    )
    records = log.read("epoch")
    summary = {
        "epochs": state["epoch"],
        "final": records[-1] if records else {},
        "parameters": sum(p.numel() for p in flow.parameters()),
        "train_seconds": sum(r["seconds"] for r in records),
        "precision": precision,
        "spec": spec.to_dict(),
    }
    write_json(summary, out / "summary.json")
    return summary


def run_flow_training(
    cfg: FlowConfig,
    out: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    explicit: set[str] | None = None,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Train a flow as ``cfg`` says into the run folder ``out`` (``companion flow train`` and the chapter).

    Everything that can be refused (options, data, the folder, a resume of another kind of run or with
    other settings) is refused before anything is written. On resume the saved settings win; only
    ``epochs`` (to extend) and ``device`` may be given anew.

    Returns:
        The summary written to ``summary.json``.
    """
    import json

    from companion.artifacts import render_run, write_json
    from companion.data import load_dataset
    from companion.loop import steps_per_epoch
    from companion.rundir import RUN_FORMAT, prepare_run_dir

    out = Path(out)
    prepare_run_dir(out, resume=resume, overwrite=overwrite, dry=True)
    if resume:
        saved = json.loads((out / "config.json").read_text())
        if saved.get("kind") != "flow":
            raise ConfigError(f"{out} holds a {saved.get('kind', 'gan')} run, not a flow run")
        old = FlowConfig(**saved["config"])
        for key in (explicit or set()) - {"epochs", "device"}:
            if getattr(old, key) != getattr(cfg, key):
                raise ConfigError(f"--resume continues the saved run, whose {key} is {getattr(old, key)!r}")
        keep = (explicit or set()) & {"epochs", "device"}
        cfg = dataclasses.replace(old, **{k: getattr(cfg, k) for k in keep})
    train = load_dataset(cfg.dataset, "train", data_dir, progress=progress).subset(cfg.train_subset).images
    test = load_dataset(cfg.dataset, "test", data_dir).images
    steps_per_epoch(train.shape[0], cfg.batch_size)  # refuse before the folder is touched
    prepare_run_dir(out, resume=resume, overwrite=overwrite)
    if not resume:
        write_json(
            {"format": RUN_FORMAT, "kind": "flow", "config": dataclasses.asdict(cfg), "command": command},
            out / "config.json",
        )
    summary = train_flow(cfg, train, test, out, resume=resume, progress=progress)
    render_run(out)
    return summary
