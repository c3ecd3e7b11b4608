r"""Training a Glow by maximum likelihood (`companion.density`), on one process or several (torchrun).

Training minimises the mean bits/dim of dequantised batches on the book's one training scaffold
(`companion.loop.run_epochs`: progress, the guard, the metrics log), with Adam after a linear warm-up,
gradient clipping, a checkpoint after every epoch (atomic, resumed exactly) and the bits/dim of
held-out images after every epoch.

**Several processes** (``torchrun --nproc-per-node N -m companion flow train ...``; gloo on the CPU,
NCCL on GPUs), as for the GAN (`companion.distributed`): ``--batch-size`` is per process, each rank
takes its share of every step's global batch of ``N x batch`` images (`companion.data.ImageSet.batches`
with ``shard``), and DDP averages the gradients, so a step is the step of one process on the global
batch. Two things make that exact rather than approximate:

* the dequantisation noise: every rank draws the noise of the whole global batch from the same
  stream and keeps its own rows (`dequantise_share`), so rank r's images get the noise that one
  process would have given them;
* ActNorm's data-dependent initialisation (on the first batch a flow sees): the ranks gather the
  first global batch and all initialise from it, as one process would.

The flow has no BatchNorm, so a two-process step equals the one-process step on the combined batch
to float rounding (tests/test_distributed.py checks it). Rank 0 alone writes the run folder. The
checkpoint records the number of processes: resuming with another number is refused (the global batch,
and so every later step, would differ).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from companion.checkpoint import load_checkpoint, load_state, save_atomic
from companion.density import (
    FLOW_FORMAT,
    FLOW_KEYS,
    FlowConfig,
    _build,
    bits_per_dim,
    dequantise,
    learning_rate,
    score_bpd,
)
from companion.errors import ConfigError, DataError
from companion.models.glow import set_precision
from companion.pixels import to_uint8

if TYPE_CHECKING:
    from companion.distributed import World

__all__ = ["LogProb", "dequantise_share", "run_flow_training", "train_flow"]


class LogProb(nn.Module):
    """A flow's ``log_prob`` as ``forward``, so that DistributedDataParallel can wrap it (nflows' Flow has none)."""

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        self.flow = flow

    def forward(self, x: Tensor) -> Tensor:
        return self.flow.log_prob(x)


def dequantise_share(images: Tensor, generator: torch.Generator, rank: int = 0, world: int = 1) -> Tensor:
    """Rank ``rank``'s rows of the global batch, dequantised with the noise one process would have drawn for them.

    ``images`` (B, C, H, W) uint8 are this rank's B rows of a global batch of ``world x B``; the noise of all
    ``world x B`` rows is drawn (so every rank's stream advances alike) and rows ``rank*B .. (rank+1)*B`` are used.
    With ``world = 1`` this is `companion.density.dequantise`.
    """
    if world == 1:
        return dequantise(images, generator)
    b = images.shape[0]
    u = torch.rand((world * b, *images.shape[1:]), generator=generator)[rank * b : (rank + 1) * b]
    return (images.float() + u.to(images.device)) / 256


def train_flow(
    cfg: FlowConfig,
    train: Tensor,
    test: Tensor,
    out: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    world: World | None = None,
) -> dict[str, Any]:
    """Train a Glow by maximum likelihood and write its run folder (already prepared by the caller).

    Args:
        cfg: Settings.
        train: (N, C, H, W) uint8 training images (CPU).
        test: (M, C, H, W) uint8 held-out images; the first ``cfg.eval_images`` are scored every epoch.
        out: Run folder: ``config.json`` (by the caller), ``metrics.jsonl``, ``ckpt.pt``, ``summary.json``.
        resume: Continue from ``out/ckpt.pt`` exactly (models, optimiser, RNG states, step).
        world: This process's place in a torchrun (`companion.distributed.World`); None: alone.

    Returns:
        The summary written to ``summary.json`` (an empty dict on ranks other than 0).

    Raises:
        ConfigError: the batch is larger than the data, or a resume with another number of processes.
        TrainingDiverged: the bits/dim became NaN or infinite (the last good checkpoint stays).
    """
    from companion.artifacts import write_json
    from companion.data import ImageSet
    from companion.device import resolve_device, resolve_precision
    from companion.distributed import World, all_mean, wrap
    from companion.loop import Guard, run_epochs, steps_per_epoch
    from companion.runlog import RunLog

    world = world or World()
    device = resolve_device(cfg.device)
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    precision = resolve_precision(cfg.precision, device)
    if train.dtype != torch.uint8 or train.ndim != 4:
        raise DataError("train_flow needs uint8 (N, C, H, W) images")
    steps = steps_per_epoch(train.shape[0] // world.size, cfg.batch_size)
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
        if int(ck.get("world_size", 1)) != world.size:
            n = ck.get("world_size", 1)
            raise ConfigError(
                f"{out} was trained with {n} process(es): resume it with as many (torchrun --nproc-per-node {n}), "
                f"not {world.size}; the global batch, and so every later step, would differ"
            )
        load_state(flow, ck["flow"], ckpt, "flow")
        opt.load_state_dict(ck["opt"])
        data_rng.set_state(ck["rng"]["data"])
        noise_rng.set_state(ck["rng"]["noise"])
        torch.set_rng_state(ck["rng"]["torch"])
        state["epoch"] = int(ck["epoch"])
        state["step"] = state["epoch"] * steps
        if world.main:
            log.trim(state["epoch"])
    data = ImageSet(train.to(device), None, cfg.dataset)
    held_out = test[: cfg.eval_images]
    total = cfg.epochs * steps
    model = wrap(LogProb(flow), world, device)

    def initialise(xc: Tensor) -> None:
        # ActNorm initialises from the first batch it sees: here the whole global batch, on every rank alike.
        import torch.distributed as dist

        parts = [torch.empty_like(xc) for _ in range(world.size)]
        dist.all_gather(parts, xc.contiguous())
        with torch.no_grad():
            flow.log_prob(torch.cat(parts))

    def step(x: Tensor, row: Tensor) -> None:
        # batches() hands out floats in [0, 1]; dequantise the grey levels they came from.
        xc = dequantise_share(to_uint8(x), noise_rng, world.rank, world.size)
        if world.distributed and state["step"] == 0:
            initialise(xc)
        state["step"] += 1
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, state["step"], total)
        loss = bits_per_dim(model(xc), spec.dim).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(flow.parameters(), cfg.clip if cfg.clip > 0 else math.inf)
        opt.step()
        row.copy_(torch.stack([loss.detach(), norm.detach().float()]))

    def save(epoch: int) -> None:
        state["epoch"] = epoch
        if not world.main:
            return
        save_atomic(
            {
                "format": FLOW_FORMAT,
                "spec": spec.to_dict(),
                "config": dataclasses.asdict(cfg),
                "epoch": epoch,
                "world_size": world.size,
                "flow": flow.state_dict(),
                "opt": opt.state_dict(),
                "rng": {"data": data_rng.get_state(), "noise": noise_rng.get_state(), "torch": torch.get_rng_state()},
            },
            ckpt,
        )

    def end_epoch(epoch: int, rows: Tensor) -> dict[str, Any]:
        if held_out.shape[0] == 0 or not world.main:
            return {}
        bpd = score_bpd(flow, held_out, draws=1, seed=1234, device=device)
        flow.train()
        return {"test_bpd": float(bpd.mean())}

    flow.train()
    run_epochs(
        fields=("bpd", "grad_norm"),
        step=step,
        batches=lambda: data.batches(cfg.batch_size, data_rng, shard=(world.rank, world.size)),
        steps=steps,
        start=state["epoch"],
        epochs=cfg.epochs,
        batch_size=cfg.batch_size * world.size,
        device=device,
        guard=Guard(watch=("bpd",), finite=("grad_norm",)),
        log=log if world.main else None,
        save=save,
        checkpoint=ckpt,
        end_epoch=end_epoch,
        progress=progress and world.main,
        desc="flow",
        log_every=25,
        reduce=(lambda t: all_mean(t, world)) if world.distributed else None,
        verbose=world.main,
    )
    if not world.main:
        return {}
    records = log.read("epoch")
    summary = {
        "epochs": state["epoch"],
        "final": records[-1] if records else {},
        "parameters": sum(p.numel() for p in flow.parameters()),
        "train_seconds": sum(r["seconds"] for r in records),
        "precision": precision,
        "spec": spec.to_dict(),
        "world_size": world.size,
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
    ``epochs`` (to extend) and ``device`` may be given anew. Under torchrun every process trains and
    rank 0 alone writes (see the module's docstring).

    Returns:
        The summary written to ``summary.json`` (empty on ranks other than 0).
    """
    import json

    from companion.artifacts import render_run, write_json
    from companion.data import load_dataset
    from companion.device import resolve_device
    from companion.distributed import setup, teardown
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
    world = setup(resolve_device(cfg.device).type)
    try:
        steps_per_epoch(train.shape[0] // world.size, cfg.batch_size)  # refuse before the folder is touched
        if world.main:
            prepare_run_dir(out, resume=resume, overwrite=overwrite)
            if not resume:
                write_json(
                    {"format": RUN_FORMAT, "kind": "flow", "config": dataclasses.asdict(cfg), "command": command,
                     "world_size": world.size},
                    out / "config.json",
                )  # fmt: skip
        summary = train_flow(cfg, train, test, out, resume=resume, progress=progress, world=world)
    finally:
        teardown(world)
    if world.main:
        render_run(out)
    return summary
