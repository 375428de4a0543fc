"""The process group of a torchrun launch: ranks, the collective stop vote, per-rank RNG states.

- One process (no WORLD_SIZE, or WORLD_SIZE = 1): every function here is a local no-op.
- torchrun (WORLD_SIZE > 1): gloo on CPU, NCCL on CUDA; rank 0 alone writes files.
- A signal (SIGTERM/SIGUSR1) may reach the ranks at different steps. :func:`agree` is an
  all-reduce (MAX) of each rank's stop flag after every step, so every rank sees the same answer
  at the same step and all of them stop after that step: none is left waiting in a collective.
"""

from __future__ import annotations

import logging
import os
import socket
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


def agree(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank (a collective: all ranks call it)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


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
