"""The process group of a torchrun launch: ranks, the collective stop vote, per-rank RNG states.

- One process (no WORLD_SIZE, or WORLD_SIZE = 1): every function here is a local no-op.
- torchrun (WORLD_SIZE > 1): gloo on CPU, NCCL on CUDA; rank 0 alone writes files.
- A signal (SIGTERM/SIGUSR1) may reach the ranks at different steps. :class:`StopVote` is an
  all-reduce (MAX) of each rank's stop flag at agreed steps, so every rank sees the same answer
  at the same step and all of them stop after that step: none is left waiting in a collective.
  A vote reads its result on the host (a device sync), so the ranks do not vote after every
  step: at the trainer's sync points (logging, checkpoints, the last step) and, between them,
  at a step agreed at the previous vote, about :data:`VOTE_EVERY_S` seconds later, so that a
  signal is acted on within seconds (SLURM sends SIGKILL KillWait, 30 s by default, after
  SIGTERM) however long the logging interval.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass
class DistInfo:
    """This process's place in the launch: rank of world, local rank on its node, node name."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    node: str = ""

    @property
    def main(self) -> bool:
        return self.rank == 0


def node_name() -> str:
    """SLURM's node name when under SLURM (two slurmd on one host differ only there)."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def init_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(node=node_name())
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    return DistInfo(
        dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
        node_name(),
    )  # fmt: skip


# Seconds of training between two stop votes under torchrun (a signal's worst-case latency,
# plus one step); far below SLURM's default KillWait of 30 s, far above a step's host sync.
VOTE_EVERY_S = 5.0


class StopVote:
    """When and how the ranks agree to stop after a signal.

    One process: the flag itself, at every step (no collective, nothing to wait for). Under
    torchrun: a vote at every sync point the caller names and at the step agreed at the
    previous vote; each rank proposes the step about ``every_s`` seconds ahead at its own pace,
    and the earliest proposal wins (one all-reduce carries the flags and the proposals)."""

    def __init__(self, device: torch.device, step: int, every_s: float = VOTE_EVERY_S):
        self.device, self.every_s = device, every_s
        self.collective = dist.is_available() and dist.is_initialized()
        self.next_step = step + 1  # the first vote measures the pace
        self.last_step, self.last_time = step, time.monotonic()

    def due(self, step: int, sync_point: bool) -> bool:
        return not self.collective or sync_point or step >= self.next_step

    def __call__(self, flag: bool, step: int) -> bool:
        """True on every rank when ``flag`` is true on any rank (a collective under torchrun:
        every rank calls it at the same steps, those where :meth:`due` is true)."""
        if not self.collective:
            return flag
        now = time.monotonic()
        per_step = (now - self.last_time) / max(step - self.last_step, 1)
        ahead = max(1, int(self.every_s / max(per_step, 1e-6)))
        t = torch.tensor([1.0 if flag else 0.0, -float(step + ahead)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)  # max of -proposal: the earliest proposal
        stop, neg_next = t.tolist()
        self.next_step, self.last_step, self.last_time = int(-neg_next), step, now
        return stop > 0


def gather_objects(obj) -> list:
    """Every rank's ``obj``, in rank order (a collective); ``[obj]`` without a process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def derived_seed(seed: int, step: int, rank: int) -> int:
    """The seed of rank ``rank``'s RNGs when a run resumes at ``step`` on another world size."""
    return (seed * 1_000_003 + step * 7919 + rank) % (2**63 - 1)
