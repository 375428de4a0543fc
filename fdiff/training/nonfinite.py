"""The non-finite skip of training steps, decided and counted on the device.

A step whose loss is not finite (on any rank) is skipped by every rank: no optimizer update,
no EMA update. Reading the loss on the host every step to decide that would stop the host
until the GPU has finished the step, so the decision stays a device tensor (``found``, like
GradScaler's found_inf): all-reduced (MAX) across ranks as an enqueued collective, passed to
the fused Adam kernel, which then leaves parameters, moments and step count untouched, and
folded into the EMA's lerp weight. The counts (skipped steps, the step past
``train.max_bad_steps``, the loss sum of the good steps) are device tensors too; the host reads
them only at the trainer's sync points (logging and checkpoint steps), through
:func:`host_values`, the one place where this module waits for the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist


def host_values(t: torch.Tensor) -> list[float]:
    """The values of a small device tensor on the host: a device sync (sync points only)."""
    return t.tolist()


def _process_group() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@dataclass(frozen=True)
class LedgerReading:
    """What the host learns at a sync point."""

    loss_sum: float  # over the good steps since the last logging read, summed over the ranks
    good_steps: float  # good steps since the last logging read, times the number of ranks
    bad_steps: int  # skipped steps over the whole run
    exceeded_step: int  # the step whose skip went past train.max_bad_steps; -1: none
    exceeded_loss: float  # that step's loss on this rank


class StepLedger:
    """The device-side counts of one rank; every rank holds the same ``bad_steps``."""

    def __init__(self, device: torch.device, max_bad_steps: int, bad_steps: int = 0):
        self.max_bad_steps = max_bad_steps
        f64 = dict(device=device, dtype=torch.float64)
        self.bad = torch.tensor(float(bad_steps), **f64)
        self.loss_sum = torch.zeros((), **f64)
        self.good = torch.zeros((), **f64)
        self.exceeded_step = torch.tensor(-1.0, **f64)
        self.exceeded_loss = torch.tensor(float("nan"), **f64)
        self._read_bad = bad_steps

    def found(self, loss: torch.Tensor) -> torch.Tensor:
        """1.0 (float32, 0-dim) when this step's loss is non-finite on any rank, else 0.0."""
        found = (~torch.isfinite(loss.detach())).float()
        if _process_group():
            dist.all_reduce(found, op=dist.ReduceOp.MAX)  # enqueued: the host does not wait
        return found

    def record(self, loss: torch.Tensor, found: torch.Tensor, step: int) -> None:
        skip = found.to(torch.float64) > 0
        self.bad += skip
        newly = skip & (self.bad == self.max_bad_steps + 1)
        self.exceeded_step = torch.where(newly, float(step), self.exceeded_step)
        self.exceeded_loss = torch.where(newly, loss.detach().double(), self.exceeded_loss)
        self.loss_sum += torch.where(skip, 0.0, loss.detach().double())
        self.good += ~skip

    def read(self, logging: bool) -> LedgerReading:
        """A sync point: the counts on the host. ``logging``: the loss sums too, summed over the
        ranks (a collective: every rank reads at the same steps), and restarted."""
        guard = torch.stack([self.bad, self.exceeded_step, self.exceeded_loss])
        sums = torch.stack([self.loss_sum, self.good])
        if logging and _process_group():
            dist.all_reduce(sums)
        bad, step, loss, loss_sum, good = host_values(torch.cat([guard, sums]))
        if not logging:
            loss_sum, good = float("nan"), 0.0
        else:
            self.loss_sum.zero_()
            self.good.zero_()
        return LedgerReading(loss_sum, good, int(bad), int(step), loss)

    def newly_skipped(self, reading: LedgerReading) -> int:
        """Steps skipped since the previous reading."""
        n, self._read_bad = reading.bad_steps - self._read_bad, reading.bad_steps
        return n
