"""Training (Algorithm 1): Adam on the epsilon loss (Eq. 8) with EMA, checkpoints and resume.

- The data order, the timesteps, the noise and the flips are drawn from RNGs seeded by the
  config and saved in every checkpoint, so a run stopped and resumed ends with exactly the weights
  of an uninterrupted one (on the same device and world size).
- Checkpoints are written atomically every ``checkpoint_every`` steps and on SIGTERM/SIGUSR1
  (what SLURM sends at the time limit or on preemption). After such a signal the ranks agree on
  the step to stop at (fdiff.training.distributed.StopVote), rank 0 writes one checkpoint (none if
  that step's periodic one was just written) and then the marker RUN_DIR/.preempted holding that
  checkpoint's step, and every process exits with :data:`EXIT_PREEMPTED`. The workflow tells a
  preemption from a failure by that marker, never by a launcher's exit code (torchrun exits 1
  either way).
- A signal after the last step (during the final checkpoint, the write of model.pt or the exit)
  stops nothing: the run finishes and exits 0. Rank 0 writes the marker (the final step, whose
  checkpoint is on disk) before model.pt and removes it after, so a final write cut short (SIGKILL
  at the end of SLURM's grace period) leaves a run that the next attempt completes at once.
- Under torchrun (WORLD_SIZE > 1) the model is wrapped in DDP and the configured batch is the
  global batch, split over the ranks; rank 0 alone writes files; every rank's RNG state is in
  the checkpoint. Resumed on another world size, the ranks' RNGs are re-derived from
  (seed, step, rank) with a warning: training continues, but no longer bit-exactly.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import logging
import os
import signal
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from fdiff.config import RunConfig, to_plain
from fdiff.data.loader import collate, uint8_to_float
from fdiff.device import resolve_device
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.errors import FdiffError
from fdiff.io import atomic_path, write_text
from fdiff.model.blocks import set_activation_checkpointing
from fdiff.model.build import build_model
from fdiff.progress import progress as pbar
from fdiff.training import checkpoint as ckpt
from fdiff.training import rundir
from fdiff.training.distributed import (
    DistInfo,
    StopVote,
    barrier,
    derived_seed,
    gather_objects,
    init_distributed,
)
from fdiff.training.nonfinite import StepLedger
from fdiff.training.tblog import open_board

log = logging.getLogger(__name__)

PREEMPTED_MARKER = rundir.PREEMPTED  # kept for importers: fdiff.training.rundir names the files
EXIT_PREEMPTED = rundir.EXIT_PREEMPTED
METRICS_FIELDS = ["step", "loss", "lr", "images_per_s", "elapsed_s"]
PREVIEW_IMAGES = 8  # fixed images segmented in TensorBoard
PREVIEW_T = 0.03  # their noise level, as a fraction of T (the paper segments at t = 30 of 1000)


class Preempted(Exception):
    """Raised after the checkpoint is saved in response to SIGTERM or SIGUSR1."""


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


class StepBatchSampler(Sampler[list[int]]):
    """Deterministic batches by step: epoch e is a permutation seeded by (seed, e).

    Step s takes global positions [s*B, (s+1)*B) of the concatenated epochs; rank r of W keeps
    every W-th index. Starting at any step yields exactly the batches an uninterrupted run saw.
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


class _SignalFlag:
    """Records SIGTERM/SIGUSR1 so the loop can checkpoint between steps.

    ``ignore_after``: on leaving, ignore both signals instead of restoring the old handlers (the
    ``fdiff train`` process, whose verdict is settled once training returns: a signal during
    its exit must not turn a finished run or a saved preemption into a kill)."""

    def __init__(self, ignore_after: bool = False):
        self.signum: int | None = None
        self.ignore_after = ignore_after
        self._old = {}

    def __enter__(self):
        with contextlib.suppress(ValueError):  # not the main thread: no handlers
            for s in (signal.SIGTERM, signal.SIGUSR1):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __bool__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, signal.SIG_IGN if self.ignore_after else h)


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers: SLURM signals every process of the step, and a worker killed by
    SIGTERM would turn a clean preemption into a crash of the main process."""
    for s in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(s, signal.SIG_IGN)


class Trainer:
    """Runs Algorithm 1 on a dataset of (image [3 x H x W] in [-1, 1], label) pairs."""

    def __init__(
        self, cfg: RunConfig, dataset: Dataset, out_dir: str | Path, preview: Dataset | None = None
    ):
        """``preview``: the fixed images segmented in TensorBoard every ``sample_every`` steps
        (the first items; default the training set's)."""
        self.cfg, self.dataset, self.out = cfg, dataset, Path(out_dir)
        self.preview = preview if preview is not None else dataset
        self.board = None  # TensorBoard events, rank 0 (fdiff.training.tblog)
        self.grad_norm: torch.Tensor | None = None  # of the last logged step
        self.ckpt_path = self.out / "checkpoints" / "last.pt"
        self.model_path = self.out / "model.pt"
        try:
            self.device = resolve_device(cfg.train.device)
        except FdiffError as e:
            raise FdiffError(f"train.device: {e.message}") from None
        self.dist: DistInfo = init_distributed(self.device)
        tc = cfg.train
        torch.manual_seed(tc.seed + self.dist.rank)  # dropout
        self.model = build_model(cfg.model).to(self.device)
        set_activation_checkpointing(self.model, tc.checkpoint_activations)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.diffusion = GaussianDiffusion(cfg.diffusion).to(self.device)
        # fused Adam: one kernel for all parameters on CUDA
        self.opt = torch.optim.Adam(
            self.model.parameters(), lr=tc.lr, fused=self.device.type == "cuda"
        )
        # timesteps, noise, flips: one generator, saved with every checkpoint
        self.gen = torch.Generator(self.device).manual_seed(tc.seed * 7919 + self.dist.rank)
        self.step = 0
        self.ledger = StepLedger(self.device, tc.max_bad_steps)
        self.cuda = self.device.type == "cuda"
        if self.cuda and tc.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            self.ema = self.ema.to(memory_format=torch.channels_last)
        self.net: nn.Module = self.model
        if self.dist.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device] if self.cuda else None
            )
        if tc.compile:
            t0 = time.time()
            self.net = torch.compile(self.net)
            log.info(
                "torch.compile wrapped the model in %.1fs (compiles on first step)",
                time.time() - t0,
            )

    # -- state ---------------------------------------------------------------------------------
    @property
    def bad_steps(self) -> int:
        """Steps skipped so far for a non-finite loss (a host read of the device's count)."""
        return self.ledger.read(logging=False).bad_steps

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

    def state(self) -> dict:
        """The training state; a collective under torchrun (every rank's RNG is gathered)."""
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

    def save_checkpoint(self, preempted: bool = False) -> None:
        """All ranks call it; rank 0 writes. On a signal, the marker follows the checkpoint."""
        state = self.state()
        if self.dist.main:
            ckpt.save(state, self.ckpt_path)
            log.info("rank 0: checkpoint: step %d -> %s", self.step, self.ckpt_path)
        if preempted:
            self.mark_preempted()
        barrier()

    def mark_preempted(self) -> None:
        """Rank 0: RUN_DIR/.preempted holding the step (the checkpoint of that step is saved)."""
        if self.dist.main:
            write_text(self.out / PREEMPTED_MARKER, f"{self.step}\n")

    def finish(self, signalled: bool) -> Path:
        """The final write, the checkpoint of the last step being on disk. It runs to its end
        whatever signal arrives; after a signal, the marker (holding the last step) stands
        while model.pt is written, so that a kill before the end leaves a run that the next
        attempt completes at once (it resumes at the last step and only writes model.pt)."""
        if signalled and self.dist.main:
            self.mark_preempted()
            log.info("rank 0: signal after the last step: model.pt is written all the same")
        path = self.write_model()
        if self.dist.main:
            (self.out / PREEMPTED_MARKER).unlink(missing_ok=True)  # finished: no verdict left
        return path

    def resume(self) -> bool:
        """Load ``checkpoints/last.pt`` if the run directory has one."""
        if self.dist.main and self.ckpt_path.parent.is_dir():
            # temporary files of a write that a SIGKILL interrupted: never a valid checkpoint
            for stale in self.ckpt_path.parent.glob(".*.tmp*"):
                stale.unlink(missing_ok=True)
        if not self.ckpt_path.is_file():
            return False
        s = ckpt.load(self.ckpt_path, ckpt.TRAIN_FORMAT, map_location=self.device)
        saved = RunConfig.from_dict(s["config"], f"{self.ckpt_path}: config")
        for section in ("model", "diffusion"):
            if getattr(saved, section) != getattr(self.cfg, section):
                raise FdiffError(
                    f"{self.ckpt_path}: the run directory holds a run with another {section} "
                    f"config ({to_plain(getattr(saved, section))}); use a new run directory"
                )
        ckpt.load_state_dict_checked(self.model, s["model"], self.ckpt_path)
        self.ema.load_state_dict(s["ema"])
        self.opt.load_state_dict(s["optimizer"])
        self.step = int(s["step"])
        self.ledger = StepLedger(
            self.device, self.cfg.train.max_bad_steps, int(s.get("bad_steps", 0))
        )
        ranks = s.get("rng_ranks", [s["rng"]])
        if len(ranks) == self.dist.world:
            self.set_rng_state(ranks[self.dist.rank])
        else:
            self.rederive_rng(len(ranks))
        log.info("rank %d: resumed %s at step %d", self.dist.rank, self.out, self.step)
        return True

    def rederive_rng(self, saved_world: int) -> None:
        """Resumed on another world size: each rank's RNGs restart from (seed, step, rank).

        The data order (a function of the step) and the global batch stay those of the run; the
        timesteps, noise and flips drawn from here on differ from an uninterrupted run's."""
        if self.dist.main:
            log.warning(
                "%s was saved by %d processes and resumes on %d: the RNG states of the ranks "
                "are re-derived from (train.seed, step %d, rank); training continues with the "
                "same data order and global batch, but is no longer bit-identical to an "
                "uninterrupted run",
                self.ckpt_path, saved_world, self.dist.world, self.step,
            )  # fmt: skip
        seed = derived_seed(self.cfg.train.seed, self.step, self.dist.rank)
        torch.manual_seed(seed)
        self.gen.manual_seed(seed)

    def write_model(self) -> Path:
        """The final EMA weights as ``model.pt`` (docs/contracts.md)."""
        if self.dist.main:
            ckpt.save(
                ckpt.model_state(
                    self.cfg.model, self.cfg.diffusion, self.ema.state_dict(), self.step
                ),
                self.model_path,
            )
            log.info("rank 0: model written to %s", self.model_path)
        return self.model_path

    # -- one step -------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        tc = self.cfg.train
        if tc.lr_warmup > 0:
            return tc.lr * min(1.0, (step + 1) / tc.lr_warmup)
        return tc.lr

    def train_step(self, x0: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Algorithm 1, one iteration: sample t and x_t, predict eps, back-propagate Eq. 8.

        Returns this rank's loss as a device tensor: nothing here waits for the device. A step
        whose loss is non-finite on any rank is skipped by every rank (fdiff.training.nonfinite);
        the host learns of it at the next sync point (:meth:`check_finite`)."""
        tc = self.cfg.train
        n = x0.shape[0]
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
        found = self.ledger.found(loss)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            self.grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        elif self.board is not None and self.logs_at(self.step + 1):
            self.grad_norm = grad_norm(self.model.parameters())  # read only: numbers unchanged
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

    def check_finite(self, logging: bool):
        """A sync point (every rank at the same step): the device's counts on the host; raises
        once more than ``train.max_bad_steps`` steps were skipped, before any checkpoint of the
        weights since. ``logging``: the loss of the good steps since the last logging read."""
        tc = self.cfg.train
        reading = self.ledger.read(logging)
        skipped = self.ledger.newly_skipped(reading)
        if reading.exceeded_step >= 0:
            raise FdiffError(
                f"non-finite loss ({reading.exceeded_loss} on rank {self.dist.rank}) at step "
                f"{reading.exceeded_step} (after {tc.max_bad_steps} skipped of "
                f"train.max_bad_steps = {tc.max_bad_steps}); the last good checkpoint "
                f"{self.ckpt_path} is kept"
            )
        if skipped:
            log.warning(
                "%d step(s) skipped for a non-finite loss up to step %d", skipped, self.step
            )
        return reading

    def logs_at(self, step: int) -> bool:
        """Whether ``step`` (counted from 1) is logged: metrics.csv, TensorBoard."""
        return step % self.cfg.train.log_every == 0 or step == self.cfg.train.steps

    # -- the loop -------------------------------------------------------------------------------
    def run(self, stop: _SignalFlag | None = None) -> Path:
        """Train to ``train.steps``; raises :class:`Preempted` after a signal's checkpoint.

        ``stop``: a flag already installed by the caller (``fdiff train`` installs it before
        building the Trainer, so that a signal during start-up is recorded too)."""
        if stop is not None:
            return self._run(stop)
        # from here on a signal is only recorded: the loop checkpoints and stops on it
        with _SignalFlag() as stop:
            return self._run(stop)

    def _run(self, stop: _SignalFlag) -> Path:
        tc = self.cfg.train
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / PREEMPTED_MARKER).unlink(missing_ok=True)  # this attempt's verdict
            write_text(self.out / "config.yaml", self.cfg.to_yaml())
        self.resume()
        barrier()  # rank 0 has swept the run directory before anyone goes on
        if self.step >= tc.steps:
            log.info("%s: already trained for %d steps", self.out, self.step)
            return self.finish(self.dist.main and bool(stop))
        if self.dist.main:
            _truncate_metrics(self.out / "metrics.csv", self.step)
        sampler = StepBatchSampler(
            len(self.dataset), tc.batch_size, self.step, tc.steps, tc.seed,
            self.dist.rank, self.dist.world,
        )  # fmt: skip
        loader = DataLoader(
            self.dataset,
            batch_sampler=sampler,
            num_workers=tc.num_workers,
            pin_memory=self.cuda,
            persistent_workers=tc.num_workers > 0,
            worker_init_fn=_ignore_stop_signals,
            collate_fn=collate,  # uint8 batches of fdiff.data.loader pass without a copy
        )
        self.model.train()
        if self.dist.main:
            self.board = open_board(self.out, tc.tensorboard, self.step)
        bar = pbar(
            total=tc.steps, initial=self.step, desc=f"train {self.out.parent.name}/{self.out.name}",
            unit="step", disable=not self.dist.main, mininterval=2.0,
        )  # fmt: skip
        t_start = t_log = time.time()
        since_log = 0  # steps since the last metrics row
        vote = StopVote(self.device, self.step)
        # the bar is closed before any error propagates, so the error is the last line printed
        first = True
        signalled = False
        with bar, contextlib.closing(self):
            for x0, y in loader:
                x0 = x0.to(self.device, non_blocking=True)
                if x0.dtype == torch.uint8:  # the fast loader: convert on the device
                    x0 = uint8_to_float(x0)
                y = y.to(self.device, non_blocking=True) if self.cfg.model.num_classes else None
                if first:
                    log.info(
                        "rank %d/%d (local %d) on %s: step %d, batch [%s] of global %d, "
                        "device %s, CUDA_VISIBLE_DEVICES=%s",
                        self.dist.rank, self.dist.world, self.dist.local_rank, self.dist.node,
                        self.step, " x ".join(map(str, x0.shape)), tc.batch_size, self.device,
                        os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
                    )  # fmt: skip
                    first = False
                self.train_step(x0, y)
                self.step += 1
                since_log += 1
                logging_step = self.logs_at(self.step)
                saved = self.step % tc.checkpoint_every == 0 or self.step == tc.steps
                # the sync points: the host waits for the device here and at votes, nowhere else
                if logging_step or saved:
                    reading = self.check_finite(logging_step)
                if logging_step:
                    now = time.time()
                    rate = since_log * tc.batch_size / max(now - t_log, 1e-9)
                    mean = reading.loss_sum / max(reading.good_steps, 1)
                    gib = (
                        torch.cuda.max_memory_allocated(self.device) / 2**30 if self.cuda else None
                    )
                    shown = {"loss": f"{mean:.4f}", "images/s": f"{rate:.1f}"}
                    if gib is not None:
                        shown["GPU GiB"] = f"{gib:.2f}"
                    bar.set_postfix(shown)
                    if self.dist.main:
                        _append_metrics(
                            self.out / "metrics.csv",
                            [self.step, mean, self.lr_at(self.step - 1), rate, now - t_start],
                        )
                        self.log_scalars(mean, rate, gib)
                    since_log, t_log = 0, now
                bar.update(1)  # after the postfix: a file line shows this step's numbers
                if tc.sample_every and self.step % tc.sample_every == 0 and self.dist.main:
                    t_pictures = time.time()
                    self.sample_grid()
                    self.preview_segmentation()
                    t_log += time.time() - t_pictures  # images/s: training's, without them
                if saved:
                    self.save_checkpoint()
                # after the periodic checkpoint: a signal during its write stops at this step,
                # with no second write
                if not vote.due(self.step, logging_step or saved):
                    continue
                signalled = vote(bool(stop), self.step)
                if signalled and self.step < tc.steps:
                    if saved:
                        self.mark_preempted()
                        barrier()
                    else:
                        self.check_finite(False)  # never the checkpoint of a failed run
                        self.save_checkpoint(preempted=True)
                    why = signal.Signals(stop.signum).name if stop else "another rank's signal"
                    raise Preempted(
                        f"rank {self.dist.rank}: {why}: all {self.dist.world} ranks stopped "
                        f"after step {self.step}; checkpoint saved to {self.ckpt_path}"
                    )
        # the last step is done and its checkpoint saved; a signal from here on (rank 0's own
        # flag: the write below is rank 0's alone) is only recorded
        return self.finish(signalled or (self.dist.main and bool(stop)))

    def close(self) -> None:
        """The TensorBoard file flushed and closed (also on a preemption or an error)."""
        if self.board is not None:
            self.board.close()
            self.board = None

    def log_scalars(self, loss: float, images_per_s: float, gpu_mem_gib: float | None) -> None:
        if self.board is None:
            return
        values = {"loss": loss, "lr": self.lr_at(self.step - 1), "images_per_s": images_per_s}
        if self.grad_norm is not None:
            values["grad_norm"] = float(self.grad_norm)
        if gpu_mem_gib is not None:
            values["gpu_mem_gib"] = gpu_mem_gib
        self.board.scalars(self.step, values)

    @torch.no_grad()
    def preview_segmentation(self) -> None:
        """TensorBoard: the EMA model's segmentation of the first preview images (fixed noise)."""
        from fdiff.diffusion.samplers import segment
        from fdiff.inference.visual import masks_picture

        if self.board is None or not self.cfg.model.factorized:
            return
        items = [self.preview[i] for i in range(min(PREVIEW_IMAGES, len(self.preview)))]
        x0, y = collate(items)
        x0 = x0.to(self.device)
        x0 = uint8_to_float(x0) if x0.dtype == torch.uint8 else x0
        y = y.to(self.device).clamp(min=0) if self.cfg.model.num_classes else None
        t = max(1, round(PREVIEW_T * self.diffusion.num_timesteps))
        g = torch.Generator(self.device).manual_seed(0)
        self.ema.eval()
        masks = segment(self.ema, self.diffusion, x0, t, y, generator=g)
        self.board.picture("segmentation", masks_picture(x0, masks), self.step)

    @torch.no_grad()
    def sample_grid(self) -> Path:
        """A DDIM-50 grid of EMA samples with their masks: RUN_DIR/samples/step_XXXXXXX.png,
        and in TensorBoard."""
        from fdiff.diffusion.samplers import ddim_sample
        from fdiff.inference.visual import masks_picture, save_png

        n, res = self.cfg.train.sample_num, self.cfg.model.resolution
        y = None
        if self.cfg.model.num_classes:
            y = torch.arange(n, device=self.device) % self.cfg.model.num_classes
        g = torch.Generator(self.device).manual_seed(1234)
        self.ema.eval()
        out = ddim_sample(self.ema, self.diffusion, (n, 3, res, res), steps=50, y=y,
                          generator=g, progress=False)  # fmt: skip
        path = self.out / "samples" / f"step_{self.step:07d}.png"
        picture = masks_picture(out.images, out.masks)
        save_png(picture, path)
        if self.board is not None:
            self.board.picture("samples", picture, self.step)
        return path


def grad_norm(params) -> torch.Tensor:
    """The 2-norm of all gradients together (what clip_grad_norm_ measures), on the device."""
    norms = [
        torch.linalg.vector_norm(p.grad.detach().float()) for p in params if p.grad is not None
    ]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


def _append_metrics(path: Path, row: list) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(METRICS_FIELDS)
        w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop rows logged after the checkpoint we resume from (they will be redone)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(keep)
