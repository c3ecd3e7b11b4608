"""One training scaffold for every loop in the book (GAN, encoder, digit classifier).

`run_epochs` owns what all loops share: epochs of batches, per-step numbers kept in a tensor
on the training device and read by the host once every ``log_every`` steps, the divergence
`Guard`, the progress bar, the metrics log (`companion.runlog.RunLog`) and the call that saves
a checkpoint after each epoch. A loop supplies only its ``step(batch, row)``, which writes its
numbers into ``row``; the scaffold knows nothing about models or losses, and draws nothing.

Order within an epoch: steps, then the epoch record (with the caller's evaluation), then the
log append, then the checkpoint. A kill between the last two leaves log records newer than the
checkpoint; resuming trims them (`RunLog.trim`) and replays the epoch exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from companion.errors import ConfigError, TrainingDiverged
from companion.runlog import RunLog

__all__ = ["Guard", "run_epochs", "steps_per_epoch"]


@dataclass
class Guard:
    """Stops a run whose numbers have left any sane range.

    * a NaN or Inf in a watched column (a loss) or a ``finite`` column (a gradient norm): at once;
    * a finite blow-up: a watched value above ``max_abs`` in magnitude for ``patience``
      consecutive steps (healthy GAN losses stay below ~50; 1e4 means the weights exploded; one
      loss is enough: a D that is certain of everything has loss 0 while G's is astronomical);
    * a collapse: the ``spread`` column (the per-pixel standard deviation over a generated
      batch, averaged) below ``min_spread`` for ``patience`` consecutive steps: every sample
      is the same image to within a quarter of a grey level.

    The finite conditions also end a run whose epochs are shorter than ``patience``: at the end
    of an epoch (`end_of_epoch`) a condition that has held for the last half of the epoch's steps
    or more stops it, so a short run cannot end "done" in a diverged or collapsed state.

    Args:
        watch: Names of the columns that are losses.
        spread: Name of the column holding the batch spread, or None.
        finite: Names of further columns that must stay finite (e.g. a gradient norm).
        max_abs: Magnitude counted as blown up.
        min_spread: Spread counted as collapsed.
        patience: Consecutive steps before a finite condition stops the run.
    """

    watch: Sequence[str]
    spread: str | None = None
    finite: Sequence[str] = ()
    max_abs: float = 1e4
    min_spread: float = 1e-3
    patience: int = 200
    _over: int = field(default=0, init=False)
    _flat: int = field(default=0, init=False)

    def check(self, rows: Tensor, fields: Sequence[str]) -> str | None:
        """Inspect consecutive step rows (host tensor (k, len(fields))); returns why to stop, or None."""
        losses = rows[:, [fields.index(name) for name in self.watch]]
        if not bool(torch.isfinite(losses).all()):
            return "a loss became NaN or infinite"
        for name in self.finite:
            if not bool(torch.isfinite(rows[:, fields.index(name)]).all()):
                return f"{name} became NaN or infinite"
        spread = rows[:, fields.index(self.spread)].tolist() if self.spread else [math.inf] * len(rows)
        for over, s in zip((losses.abs() > self.max_abs).any(1).tolist(), spread):
            self._over = self._over + 1 if over else 0
            self._flat = self._flat + 1 if s < self.min_spread else 0
            reason = self._verdict(self.patience)
            if reason is not None:
                return reason
        return None

    def end_of_epoch(self, steps: int) -> str | None:
        """After an epoch of ``steps`` steps: why to stop a run that ended it diverged or collapsed, or None."""
        return self._verdict(min(self.patience, max(1, math.ceil(steps / 2))))

    def _verdict(self, patience: int) -> str | None:
        if self._over >= patience:
            return f"a loss stayed above {self.max_abs:g} in magnitude for {self._over} steps"
        if self._flat >= patience:
            return (
                f"the samples collapsed: every generated image was the same (spread < {self.min_spread:g}) "
                f"for {self._flat} steps"
            )
        return None


def steps_per_epoch(n_items: int, batch_size: int) -> int:
    """Full batches per epoch (the last partial batch is dropped).

    Raises:
        ConfigError: the batch is larger than the data, so an epoch would train nothing.
    """
    steps = n_items // batch_size
    if steps == 0:
        raise ConfigError(f"batch size {batch_size} is larger than the {n_items} training images")
    return steps


def run_epochs(
    *,
    fields: Sequence[str],
    step: Callable[[Any, Tensor], None],
    batches: Callable[[], Iterable[Any]],
    steps: int,
    start: int,
    epochs: int,
    batch_size: int,
    device: torch.device,
    guard: Guard,
    log: RunLog | None = None,
    save: Callable[[int], None] | None = None,
    checkpoint: Path | None = None,
    end_epoch: Callable[[int, Tensor], dict[str, Any]] | None = None,
    progress: bool = True,
    desc: str = "",
    log_every: int = 25,
    reduce: Callable[[Tensor], Tensor] | None = None,
    verbose: bool = True,
) -> list[dict[str, Any]]:
    """Train epochs ``start + 1 .. epochs``; returns their epoch records.

    Args:
        fields: Names of the per-step numbers, in the order ``step`` writes them.
        step: ``step(batch, row)`` trains on one batch and writes its numbers into ``row``
            (a (len(fields),) tensor on ``device``), without a host sync.
        batches: Returns one epoch's iterable of batches (``steps`` of them).
        steps: Steps per epoch.
        start: Epochs already done (0, or the checkpoint's epoch on resume).
        epochs: Last epoch to train.
        batch_size: Items per step (for the throughput figure).
        device: Where ``step`` runs.
        guard: Decides when the numbers mean the run has failed.
        log: Where step and epoch records go (None: nowhere).
        save: ``save(epoch)`` writes the checkpoint after each epoch.
        checkpoint: The checkpoint's path, named in the error when the guard stops the run.
        end_epoch: ``end_epoch(epoch, rows)`` returns extra items for the epoch record
            (evaluation, samples); ``rows`` are the epoch's step numbers on the host.
        progress: Show a tqdm bar and a line per epoch.
        desc: Bar label.
        log_every: Steps between host syncs (guard and bar).
        reduce: Combines step numbers across processes before the guard and the log (the mean over
            ranks in a distributed run), so that every process takes the same decision.
        verbose: Print a line per epoch when there is no bar (False on all but one process).

    Raises:
        TrainingDiverged: the guard stopped the run; the last saved checkpoint stays.
    """
    from tqdm.auto import tqdm

    out: list[dict[str, Any]] = []
    with tqdm(total=(epochs - start) * steps, disable=not progress, unit="step", dynamic_ncols=True) as bar:
        for epoch in range(start + 1, epochs + 1):
            bar.set_description(f"{desc} epoch {epoch}/{epochs}".strip())
            stats = torch.zeros(steps, len(fields), device=device)
            t0 = time.perf_counter()
            synced = 0
            for i, batch in enumerate(batches()):
                step(batch, stats[i])
                if (i + 1) % log_every == 0 or i + 1 == steps:
                    chunk = stats[synced : i + 1]
                    chunk = (reduce(chunk) if reduce else chunk).cpu()  # the one host sync per log_every steps
                    reason = guard.check(chunk, fields)
                    if reason is not None:
                        raise _diverged(reason, epoch, i + 1, checkpoint)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in zip(fields[:2], chunk[-1].tolist())})
                    bar.update(i + 1 - synced)
                    synced = i + 1
            reason = guard.end_of_epoch(steps)  # before anything of this epoch is logged or saved
            if reason is not None:
                raise _diverged(reason, epoch, steps, checkpoint)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            rows = (reduce(stats) if reduce else stats).cpu()
            record = {
                "type": "epoch",
                "epoch": epoch,
                **dict(zip(fields, rows.mean(0).tolist())),
                "seconds": seconds,
                "images_per_s": steps * batch_size / seconds,
            }
            if end_epoch is not None:
                record.update(end_epoch(epoch, rows))
            if log is not None:
                first = (epoch - 1) * steps
                log.append(
                    [
                        {"type": "step", "epoch": epoch, "step": first + i + 1, **dict(zip(fields, row))}
                        for i, row in enumerate(rows.tolist())
                    ]
                    + [record]
                )
            if save is not None:
                save(epoch)
            out.append(record)
            if progress:
                bar.write(epoch_line(record, fields))
            elif verbose:  # no bar, but a line per epoch still shows that long work moves
                print(f"{desc} {epoch_line(record, fields)}".strip(), flush=True)
    return out


def _diverged(reason: str, epoch: int, step: int, checkpoint: Path | None) -> TrainingDiverged:
    """The one-line error of a stopped run; it names the checkpoint that is kept."""
    done = epoch - 1
    kept = (
        f"the last good checkpoint (epoch {done}) is kept in {checkpoint}"
        if checkpoint is not None and done > 0
        else "no epoch had finished, so there is no checkpoint"
    )
    return TrainingDiverged(f"training diverged: {reason} at epoch {epoch}, step {step}; {kept}; try a smaller --lr")


def epoch_line(record: dict[str, Any], fields: Sequence[str]) -> str:
    """One line summarising an epoch record for the terminal."""
    parts = [f"epoch {record['epoch']}"] + [f"{k} {record[k]:.4g}" for k in fields]
    parts.append(f"{record['images_per_s']:.0f} img/s")
    if record.get("fid") is not None:
        parts.append(f"FID {record['fid']:.2f}")
    if record.get("modes") is not None:
        parts.append(f"modes {record['modes']}/10")
    return "  ".join(parts)
