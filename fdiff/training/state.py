"""The training state and its one step (Algorithm 1): everything a checkpoint holds.

:func:`build_train_state` builds the parts in one place (model, EMA copy, Adam, the diffusion,
the generators, the process group, DDP and compile wrapping); :class:`TrainState` carries them,
takes one step (:meth:`TrainState.train_step`) and reads and writes the checkpoint dict of
docs/contracts.md (:meth:`TrainState.state_dict`, :meth:`TrainState.load_state_dict`; the file
and its format name are fdiff.training.checkpoint's). The loop around it is fdiff.training.trainer's
``Trainer``; the benchmarks call the step alone.

Randomness: the data order is a function of (seed, step) (:class:`StepBatchSampler`); the
timesteps, noise and flips come from one generator per rank, dropout from torch's global one;
both generators' states are in every checkpoint, so a resumed run continues bit-identically (on
the same device and world size).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Sampler

from fdiff.config import RunConfig, to_plain
from fdiff.device import resolve_device
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.errors import FdiffError
from fdiff.model.blocks import set_activation_checkpointing
from fdiff.model.build import build_model
from fdiff.training import checkpoint as ckpt
from fdiff.training.distributed import DistInfo, derived_seed, gather_objects, init_distributed
from fdiff.training.nonfinite import StepLedger

log = logging.getLogger(__name__)


def ema_decay(step: int, rate: float, warmup: bool) -> float:
    """EMA decay at ``step``: ``rate``, or min(rate, (1 + s) / (10 + s)) with the warm-up, so
    that a short run's EMA is not dominated by the initial weights."""
    return min(rate, (1 + step) / (10 + step)) if warmup else rate


@torch.no_grad()
def ema_update(
    ema: nn.Module, model: nn.Module, decay: float, skip: torch.Tensor | None = None
) -> None:
    """ema <- decay * ema + (1 - decay) * model, for every parameter; ``skip`` (a 0-dim device
    tensor, 1 or 0): no change when 1, decided on the device."""
    e = [p for p in ema.parameters()]
    m = [p.detach() for p in model.parameters()]
    if skip is None:
        torch._foreach_lerp_(e, m, 1.0 - decay)
    else:
        torch._foreach_lerp_(e, m, [(1.0 - decay) * (1.0 - skip)] * len(e))


def grad_norm(params) -> torch.Tensor:
    """The 2-norm of all gradients together (what clip_grad_norm_ measures), on the device."""
    norms = [
        torch.linalg.vector_norm(p.grad.detach().float()) for p in params if p.grad is not None
    ]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


class StepBatchSampler(Sampler[list[int]]):
    """Deterministic batches by step: epoch e is a permutation seeded by (seed, e).

    Step s takes global positions [s*B, (s+1)*B) of the concatenated epochs; rank r of W keeps
    every W-th index. Starting at any step yields exactly the batches an uninterrupted run saw,
    so the data order needs no saved state.
    """

    def __init__(self, n, global_batch, start_step, total_steps, seed, rank=0, world=1):
        if n < 1:
            raise FdiffError("the training split is empty")
        if global_batch % world:
            raise FdiffError(f"train.batch_size {global_batch} is not divisible by {world} ranks")
        self.n, self.b, self.start, self.total = n, global_batch, start_step, total_steps
        self.seed, self.rank, self.world = seed, rank, world
        self._perm_epoch, self._perm = -1, None

    def _perm_of(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g), epoch
        return self._perm

    def batch(self, step: int) -> list[int]:
        idx = []
        for pos in range(step * self.b, (step + 1) * self.b):
            idx.append(int(self._perm_of(pos // self.n)[pos % self.n]))
        return idx[self.rank :: self.world]

    def __iter__(self):
        for step in range(self.start, self.total):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(0, self.total - self.start)


@dataclass
class TrainState:
    """The parts of a run and where it is; built by :func:`build_train_state`."""

    cfg: RunConfig
    device: torch.device
    dist: DistInfo
    model: nn.Module  # the weights Adam updates (unwrapped)
    ema: nn.Module  # their running average: what model.pt holds
    opt: torch.optim.Optimizer
    diffusion: GaussianDiffusion
    net: nn.Module  # what the step calls: the model, wrapped in DDP and/or compiled
    gen: torch.Generator  # timesteps, noise, flips (dropout draws from torch's global RNG)
    ledger: StepLedger  # the non-finite steps skipped, counted on the device
    step: int = 0  # steps done
    grad_norm: torch.Tensor | None = field(default=None, repr=False)  # of the last measured step

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def bad_steps(self) -> int:
        """Steps skipped so far for a non-finite loss (a host read of the device's count)."""
        return self.ledger.read(logging=False).bad_steps

    def batches(self, n: int) -> StepBatchSampler:
        """This rank's batches of a dataset of ``n`` items, from this step to the last."""
        tc = self.cfg.train
        return StepBatchSampler(
            n, tc.batch_size, self.step, tc.steps, tc.seed, self.dist.rank, self.dist.world
        )

    def lr_at(self, step: int) -> float:
        tc = self.cfg.train
        if tc.lr_warmup > 0:
            return tc.lr * min(1.0, (step + 1) / tc.lr_warmup)
        return tc.lr

    # -- one step -------------------------------------------------------------------------------
    def train_step(
        self, x0: torch.Tensor, y: torch.Tensor | None, measure_grad_norm: bool = False
    ) -> torch.Tensor:
        """Algorithm 1, one iteration: sample t and x_t, predict eps, back-propagate Eq. 8.

        Returns this rank's loss as a device tensor: nothing here waits for the device. A step
        whose loss is non-finite on any rank is skipped by every rank (fdiff.training.nonfinite);
        the host learns of it at the next sync point. ``measure_grad_norm``: keep the gradients'
        norm in :attr:`grad_norm` for the log (clipping measures it anyway); it changes no
        number. Does not advance :attr:`step`: the caller does, after its own bookkeeping."""
        tc = self.cfg.train
        n = x0.shape[0]
        # flips, t, noise: the order of these draws from one generator fixes a seed's numbers
        # (reordered, every run changes: benchmarks/train_same_numbers.py would say so)
        if tc.flip:
            flip = torch.rand(n, device=self.device, generator=self.gen) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        t = self.diffusion.sample_timesteps(n, self.device, self.gen)
        noise = torch.randn(x0.shape, device=self.device, generator=self.gen)
        if self.cuda and tc.channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda and tc.bf16):
            loss = self.diffusion.loss(self.net, x0, t, noise, y)
        # all-reduced over the ranks, so that every rank skips the same steps
        found = self.ledger.found(loss)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()  # always, even when skipped: DDP's all-reduce must run on every rank
        if tc.grad_clip > 0:
            self.grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        elif measure_grad_norm:
            self.grad_norm = grad_norm(self.model.parameters())
        decay = ema_decay(self.step, tc.ema_rate, tc.ema_warmup)
        if self.opt.defaults.get("fused"):
            # the skip happens on the device: the fused kernel honours found_inf as it does
            # under GradScaler (parameters, moments and step count untouched)
            self.opt.found_inf = found
            self.opt.step()
            ema_update(self.ema, self.model, decay, skip=found)
        elif not found:  # unfused Adam (the CPU): the host is the device, nothing to wait for
            self.opt.step()
            ema_update(self.ema, self.model, decay)
        self.ledger.record(loss, found, self.step)
        return loss.detach()

    # -- checkpoint -----------------------------------------------------------------------------
    def rng_state(self) -> dict:
        """This rank's RNG states: dropout (torch, cuda) and training draws (timesteps, noise)."""
        rng = {"torch": torch.get_rng_state(), "train": self.gen.get_state().cpu()}
        if self.cuda:
            rng["cuda"] = torch.cuda.get_rng_state(self.device).cpu()
        return rng

    def set_rng_state(self, rng: dict) -> None:
        torch.set_rng_state(rng["torch"].cpu())
        self.gen.set_state(rng["train"].cpu())
        if self.cuda and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)

    def state_dict(self) -> dict:
        """The checkpoint dict (format ``fdiff-train-1``, docs/contracts.md); a collective under
        torchrun: every rank's RNG is gathered, so every rank must call it."""
        ranks = gather_objects(self.rng_state())
        return {
            "format": ckpt.TRAIN_FORMAT,
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "bad_steps": self.bad_steps,
            "rng": ranks[0],  # rank 0 (a one-process run reads only this)
            "rng_ranks": ranks,  # every rank's, in rank order
            "world_size": self.dist.world,
        }

    def load_state_dict(self, s: dict, source: Path) -> None:
        """Continue the run a checkpoint dict holds (``source``: its file, for the messages).

        Another train section (more steps, another lr) is a continued run; another model or
        diffusion would silently train a different network from these weights, so it is
        refused."""
        saved = RunConfig.from_dict(s["config"], f"{source}: config")
        for section in ("model", "diffusion"):
            if getattr(saved, section) != getattr(self.cfg, section):
                raise FdiffError(
                    f"{source}: the run directory holds a run with another {section} "
                    f"config ({to_plain(getattr(saved, section))}); use a new run directory"
                )
        ckpt.load_state_dict_checked(self.model, s["model"], source)
        self.ema.load_state_dict(s["ema"])
        self.opt.load_state_dict(s["optimizer"])
        self.step = int(s["step"])
        self.ledger = StepLedger(
            self.device, self.cfg.train.max_bad_steps, int(s.get("bad_steps", 0))
        )
        ranks = s.get("rng_ranks", [s["rng"]])  # checkpoints before DDP held one rank's
        if len(ranks) == self.dist.world:
            self.set_rng_state(ranks[self.dist.rank])
        else:
            self.rederive_rng(len(ranks), source)

    def rederive_rng(self, saved_world: int, source: Path) -> None:
        """Resumed on another world size: each rank's RNGs restart from (seed, step, rank).

        The data order (a function of the step) and the global batch stay those of the run; the
        timesteps, noise and flips drawn from here on differ from an uninterrupted run's. (A
        refusal would leave a preempted job stuck whenever the cluster hands back fewer GPUs.)"""
        if self.dist.main:
            log.warning(
                "%s was saved by %d processes and resumes on %d: the RNG states of the ranks "
                "are re-derived from (train.seed, step %d, rank); training continues with the "
                "same data order and global batch, but is no longer bit-identical to an "
                "uninterrupted run",
                source, saved_world, self.dist.world, self.step,
            )  # fmt: skip
        seed = derived_seed(self.cfg.train.seed, self.step, self.dist.rank)
        torch.manual_seed(seed)
        self.gen.manual_seed(seed)


def build_train_state(cfg: RunConfig) -> TrainState:
    """Every part of a run at step 0, as ``fdiff train`` runs it: on ``train.device``, in the
    torchrun process group when there is one (DDP), compiled on request.

    The order of the draws from torch's global RNG (the model's initialisation after the seed)
    is part of the result: changing it changes every weight of a run of the same seed."""
    tc = cfg.train
    try:
        device = resolve_device(tc.device)
    except FdiffError as e:
        raise FdiffError(f"train.device: {e.message}") from None
    dist = init_distributed(device)
    torch.manual_seed(tc.seed + dist.rank)  # the initialisation, then dropout
    model = build_model(cfg.model).to(device)
    set_activation_checkpointing(model, tc.checkpoint_activations)
    ema = copy.deepcopy(model).requires_grad_(False)
    diffusion = GaussianDiffusion(cfg.diffusion).to(device)
    cuda = device.type == "cuda"
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, fused=cuda)  # fused: one kernel
    gen = torch.Generator(device).manual_seed(tc.seed * 7919 + dist.rank)
    ledger = StepLedger(device, tc.max_bad_steps)
    if cuda and tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
        ema = ema.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if dist.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device] if cuda else None)
    if tc.compile:
        t0 = time.time()
        net = torch.compile(net)
        log.info(
            "torch.compile wrapped the model in %.1fs (compiles on first step)", time.time() - t0
        )
    return TrainState(cfg, device, dist, model, ema, opt, diffusion, net, gen, ledger)
