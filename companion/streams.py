"""The random streams of a GAN run, and how they are saved so that a resumed run replays bit for bit.

A run draws from three sources, each seeded from the run's seed:

* ``data``: the permutation of every epoch, on the CPU, the same on every rank (each rank takes
  every n-th batch of it, `companion.data.ImageSet.batches`);
* ``latent``: the z of every training step, on the training device, one stream per rank
  (rank 0's is the stream a single process would use);
* ``fixed_z``: the latents drawn once and shown after every epoch.

A checkpoint holds all of them, every rank's latent stream included (gathered to rank 0), plus
torch's global CPU and CUDA states; restoring them continues every stream where it stopped. A
resume with another number of processes continues each rank that existed and starts fresh
streams for new ranks (correct, but not bit for bit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from companion.distributed import World

__all__ = ["RandomStreams"]


@dataclass
class RandomStreams:
    """The data-order, latent and fixed-latent draws of one rank of a run."""

    data: torch.Generator
    latent: torch.Generator
    fixed_z: Tensor

    @classmethod
    def seeded(cls, seed: int, n_fixed: int, latent_dim: int, device: torch.device, rank: int = 0) -> RandomStreams:
        """Fresh streams from ``seed``: data from seed, latents from seed + 1 (+ 7919 x rank), fixed z from seed + 2."""
        data = torch.Generator().manual_seed(seed)  # the same permutation on every rank
        latent = torch.Generator(device).manual_seed(seed + 1 + 7919 * rank)  # rank 0: as a single process
        fixed = torch.randn(n_fixed, latent_dim, generator=torch.Generator().manual_seed(seed + 2))
        return cls(data, latent, fixed.to(device))

    def state(self, world: World, device: torch.device) -> dict[str, Any]:
        """What a checkpoint's ``rng`` entry holds (every rank takes part: the latent states are gathered)."""
        return {
            "data": self.data.get_state(),
            "latent": self.latent.get_state(),
            "latent_ranks": self._gather_latent(world),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
        }

    def load(self, rng: dict[str, Any], fixed_z: Tensor, world: World, device: torch.device) -> None:
        """Continue every stream of a checkpoint's ``rng`` entry and its ``fixed_z``."""
        self.data.set_state(rng["data"])
        # Each rank continues its own latent stream; a rank the saved run did not have keeps its fresh one.
        ranks = rng.get("latent_ranks") or [rng["latent"]]
        if world.rank < len(ranks):
            self.latent.set_state(ranks[world.rank])
        torch.set_rng_state(rng["torch"])
        if device.type == "cuda" and rng["cuda"]:
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.fixed_z = fixed_z.to(device)

    def _gather_latent(self, world: World) -> list[Tensor]:
        """Every rank's latent state, in rank order."""
        if not world.distributed:
            return [self.latent.get_state()]
        import torch.distributed as dist

        states: list = [None] * world.size
        dist.all_gather_object(states, self.latent.get_state().cpu())
        return states
