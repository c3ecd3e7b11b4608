"""Several processes, one run: ``torchrun --nproc-per-node N -m companion train ...``.

torchrun starts N copies of the command with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set;
`setup` joins them into one process group (NCCL on CUDA, gloo on the CPU). The trainer then:

* wraps G and D in ``DistributedDataParallel``, which averages gradients over the ranks after
  every backward pass. Each rank's loss is the mean over its own batch, so the average of the
  ranks' gradients is the gradient of the mean over all ``ranks x batch`` images: the run behaves
  like one process with the **effective batch = per-rank batch x ranks**, with the same learning
  rate (raise ``--lr`` yourself if you want the larger batch to take larger steps);
* gives every rank a disjoint share of each epoch's permutation (all ranks draw the same
  permutation from the same seed, rank r takes every r-th batch: `companion.data.ImageSet.batches`
  with ``shard``), and its own latent stream (seeded from the seed and the rank);
* lets rank 0 alone write the run folder (config, log, checkpoints, the fixed batch, FID).

BatchNorm: on CUDA the layers become ``SyncBatchNorm`` (batch statistics over all ranks, as one
process would compute them). On the CPU (gloo) there is no SyncBatchNorm: each rank normalises its
own batch and keeps its own running statistics, and the checkpoint holds rank 0's. That is the one
reason why a 2-process CPU run differs from a 1-process run with the same total batch.

D is called twice before its backward pass (real batch, generated batch), which DDP allows only
with ``broadcast_buffers=False`` (a buffer broadcast between the two calls would modify BatchNorm's
buffers in place); the generator's step calls D's inner module, whose weights are frozen there, so
DDP never waits for gradients that do not come (no unused-parameter error).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["World", "all_mean", "setup", "sync_rows", "teardown", "wrap"]


@dataclass(frozen=True)
class World:
    """This process's place in the run: rank (0 writes), world size, local rank (which GPU)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup(device_type: str) -> World:
    """Join the process group torchrun describes in the environment (a no-op for a single process)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def teardown(world: World) -> None:
    """Destroy the process group while the interpreter is fully alive (a no-op for a single process).

    Call it after the last collective, once the DDP wrappers are out of scope. Why it matters:
    gloo's worker thread frees a collective's work object (whose tensors hold Python objects)
    *after* it has woken the caller. A process that exits straight after its last collective
    (rank 1, which has nothing to write) can reach interpreter finalization first; the worker's
    decref then needs the GIL, the finalizing interpreter ends the thread inside a noexcept
    destructor, and ``std::terminate`` aborts the process: SIGABRT, "terminate called without an
    active exception" (seen in 9 of 40 bare two-process gloo runs here; a core dump showed
    ``~AsyncAllgatherWork`` -> ``decref_pyobject`` -> ``take_gil`` -> ``pthread_exit``).
    ``destroy_process_group`` alone is not enough (3 of 40) while DDP modules still hold the
    group: only when the last reference goes does the group's destructor (run without the GIL)
    join its worker threads. So first collect whatever cycles keep DDP wrappers alive, then
    destroy (0 of 60).
    """
    if not world.distributed:
        return
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()
    gc.collect()


def wrap(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``module`` (SyncBatchNorm on CUDA); the module itself when alone."""
    if not world.distributed:
        return module
    import inspect

    from torch.nn.parallel import DistributedDataParallel as DDP

    # No buffer sync in forward (newer torch names the switch forward_sync_buffers; older ones
    # broadcast_buffers). Syncing once at construction is harmless: all ranks start equal.
    params = inspect.signature(DDP.__init__).parameters
    nosync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return DDP(module, device_ids=[device.index or 0], **nosync)
    return DDP(module, **nosync)


def all_mean(t: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of ``t`` over the ranks (every rank gets it; ``t`` itself when alone)."""
    if not world.distributed:
        return t
    import torch.distributed as dist

    t = t.clone()
    dist.all_reduce(t)
    return t / world.size


def sync_rows(codes: nn.Embedding, opt_z: torch.optim.Optimizer, idx: torch.Tensor, world: int) -> None:
    """Give every rank the rows each rank changed in this step: an embedding's rows and their sparse Adam moments.

    Used by GLO's per-image codes (`companion.glo`).

    The ranks' index sets are disjoint (shares of one permutation) and of one size, so after the
    exchange every rank's table and moments are those of one process that stepped on the global batch.
    """
    import torch.distributed as dist

    state = opt_z.state[codes.weight]
    local = torch.cat([codes.weight[idx], state["exp_avg"][idx], state["exp_avg_sq"][idx]], 1).contiguous()
    rows = [torch.empty_like(local) for _ in range(world)]
    ids = [torch.empty_like(idx) for _ in range(world)]
    dist.all_gather(rows, local)
    dist.all_gather(ids, idx.contiguous())
    d = codes.weight.shape[1]
    with torch.no_grad():
        for i, r in zip(ids, rows):
            codes.weight[i] = r[:, :d]
            state["exp_avg"][i] = r[:, d : 2 * d]
            state["exp_avg_sq"][i] = r[:, 2 * d :]
