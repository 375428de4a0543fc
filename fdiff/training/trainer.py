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
import csv
import logging
import os
import time
from pathlib import Path
from typing import NoReturn

import torch
from torch.utils.data import DataLoader, Dataset

from fdiff.config import RunConfig
from fdiff.data.loader import collate, uint8_to_float
from fdiff.errors import FdiffError
from fdiff.io import atomic_path, write_text
from fdiff.progress import progress as pbar
from fdiff.training import checkpoint as ckpt
from fdiff.training import rundir
from fdiff.training import signals as sig
from fdiff.training.distributed import StopVote, barrier
from fdiff.training.nonfinite import LedgerReading
from fdiff.training.state import TrainState, build_train_state
from fdiff.training.tblog import open_board

log = logging.getLogger(__name__)

PREEMPTED_MARKER = rundir.PREEMPTED  # kept for importers: fdiff.training.rundir names the files
EXIT_PREEMPTED = rundir.EXIT_PREEMPTED
METRICS_FIELDS = ["step", "loss", "lr", "images_per_s", "elapsed_s"]
PREVIEW_IMAGES = 8  # fixed images segmented in TensorBoard
PREVIEW_T = 0.03  # their noise level, as a fraction of T (the paper segments at t = 30 of 1000)


class Preempted(Exception):
    """Raised after the checkpoint is saved in response to SIGTERM or SIGUSR1."""


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers: SLURM signals every process of the step, and a worker killed by
    SIGTERM would turn a clean preemption into a crash of the main process."""
    sig.ignore(sig.TRAIN_STOP)


class Trainer:
    """Runs Algorithm 1 on a built :class:`~fdiff.training.state.TrainState` over a dataset of
    (image [3 x H x W] in [-1, 1] or uint8, label) pairs, and keeps the run directory: metrics,
    TensorBoard, sample grids, checkpoints, the preemption marker and model.pt."""

    def __init__(
        self, state: TrainState, dataset: Dataset, out_dir: str | Path,
        preview: Dataset | None = None,
    ):  # fmt: skip
        """``preview``: the fixed images segmented in TensorBoard every ``sample_every`` steps
        (the first items; default the training set's)."""
        self.state, self.cfg, self.dataset, self.out = state, state.cfg, dataset, Path(out_dir)
        self.preview = preview if preview is not None else dataset
        self.main = state.dist.main  # rank 0 alone writes files
        self.board = None  # TensorBoard events, rank 0 (fdiff.training.tblog)
        self.ckpt_path = self.out / rundir.LAST_CHECKPOINT
        self.model_path = self.out / rundir.MODEL

    @classmethod
    def build(
        cls, cfg: RunConfig, dataset: Dataset, out_dir: str | Path,
        preview: Dataset | None = None,
    ) -> Trainer:  # fmt: skip
        """A Trainer on a fresh state (:func:`~fdiff.training.state.build_train_state`)."""
        return cls(build_train_state(cfg), dataset, out_dir, preview)

    # -- the loop -------------------------------------------------------------------------------
    def run(self, stop: sig.SignalRecorder | None = None) -> Path:
        """Train to ``train.steps``; raises :class:`Preempted` after a signal's checkpoint.

        ``stop``: a recorder already installed by the caller (``fdiff train`` installs it
        before building the state, so that a signal during start-up is recorded too)."""
        if stop is not None:
            return self.run_loop(stop)
        # from here on a signal is only recorded: the loop checkpoints and stops on it
        with sig.SignalRecorder(sig.TRAIN_STOP) as stop:
            return self.run_loop(stop)

    def run_loop(self, stop: sig.SignalRecorder) -> Path:
        """Algorithm 1 (repeat: x0, t, eps; a gradient step on Eq. 8) with its bookkeeping."""
        s, tc = self.state, self.cfg.train
        if not self.start():
            return self.finish(self.main and bool(stop))  # trained already: model.pt only
        signalled = False
        # the bar is closed before any error propagates, so the error is the last line printed
        with self.open_bar() as bar, contextlib.closing(self):
            for x0, y in self.batches():
                self.run_step(x0, y)
                logs, saves = self.logs_at(s.step), self.saves_at(s.step)
                if logs or saves:  # the sync points: the host waits for the device only here
                    reading = self.check_finite(logs)
                if logs:
                    self.log_step(reading)
                bar.update(1)  # after the postfix: a file line shows this step's numbers
                if self.samples_at(s.step):
                    self.sample()
                if saves:
                    self.save_checkpoint()
                # voted after the periodic checkpoint: a signal during its write stops here
                signalled = self.stop_voted(stop, sync_point=logs or saves)
                if signalled and s.step < tc.steps:
                    self.preempt(stop, saved=saves)
        # the last step is done and its checkpoint saved; a signal from here on (rank 0's own
        # flag: the write below is rank 0's alone) is only recorded
        return self.finish(signalled or (self.main and bool(stop)))

    # -- the named steps ------------------------------------------------------------------------
    def start(self) -> bool:
        """The run directory written and the state resumed; False when no step is left."""
        s, tc = self.state, self.cfg.train
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / PREEMPTED_MARKER).unlink(missing_ok=True)  # this attempt's verdict
            write_text(self.out / rundir.TRAINED_CONFIG, self.cfg.to_yaml())
        self.resume()
        barrier()  # rank 0 has swept the run directory before anyone goes on
        if s.step >= tc.steps:
            log.info("%s: already trained for %d steps", self.out, s.step)
            return False
        if self.main:
            _truncate_metrics(self.out / rundir.METRICS, s.step)
        s.model.train()
        if self.main:
            self.board = open_board(self.out, tc.tensorboard, s.step)
        self.t_start = self.t_log = time.time()
        self.since_log = 0  # steps since the last metrics row
        self.vote = StopVote(s.device, s.step)
        return True

    def open_bar(self):
        self.bar = pbar(
            total=self.cfg.train.steps, initial=self.state.step, unit="step",
            desc=f"train {self.out.parent.name}/{self.out.name}", disable=not self.main,
            mininterval=2.0,
        )  # fmt: skip
        return self.bar

    def batches(self):
        """This rank's batches on the device, from the state's step to the last."""
        s, d = self.state, self.state.dist
        loader = DataLoader(
            self.dataset,
            batch_sampler=s.batches(len(self.dataset)),
            num_workers=self.cfg.train.num_workers,
            pin_memory=s.cuda,
            persistent_workers=self.cfg.train.num_workers > 0,
            worker_init_fn=_ignore_stop_signals,
            collate_fn=collate,  # uint8 batches of fdiff.data.loader pass without a copy
        )
        for i, (x0, y) in enumerate(loader):
            x0 = x0.to(s.device, non_blocking=True)
            if x0.dtype == torch.uint8:  # the fast loader: converted on the device
                x0 = uint8_to_float(x0)
            y = y.to(s.device, non_blocking=True) if self.cfg.model.num_classes else None
            if i == 0:  # where each rank runs: what a multi-node job's log is read for
                log.info(
                    "rank %d/%d (local %d) on %s: step %d, batch [%s] of global %d, "
                    "device %s, CUDA_VISIBLE_DEVICES=%s",
                    d.rank, d.world, d.local_rank, d.node, s.step, " x ".join(map(str, x0.shape)),
                    self.cfg.train.batch_size, s.device,
                    os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
                )  # fmt: skip
            yield x0, y

    def run_step(self, x0: torch.Tensor, y: torch.Tensor | None) -> None:
        self.train_step(x0, y)
        self.state.step += 1
        self.since_log += 1

    def train_step(self, x0: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """One iteration (:meth:`TrainState.train_step`); the gradient norm is measured for
        TensorBoard at the steps that log it."""
        s = self.state
        return s.train_step(x0, y, self.board is not None and self.logs_at(s.step + 1))

    def check_finite(self, logging: bool) -> LedgerReading:
        """A sync point (every rank at the same step): the device's counts on the host; raises
        once more than ``train.max_bad_steps`` steps were skipped, before any checkpoint of the
        weights since. ``logging``: the loss of the good steps since the last logging read."""
        s, tc = self.state, self.cfg.train
        reading = s.ledger.read(logging)
        skipped = s.ledger.newly_skipped(reading)
        if reading.exceeded_step >= 0:
            raise FdiffError(
                f"non-finite loss ({reading.exceeded_loss} on rank {s.dist.rank}) at step "
                f"{reading.exceeded_step} (after {tc.max_bad_steps} skipped of "
                f"train.max_bad_steps = {tc.max_bad_steps}); the last good checkpoint "
                f"{self.ckpt_path} is kept"
            )
        if skipped:
            log.warning("%d step(s) skipped for a non-finite loss up to step %d", skipped, s.step)
        return reading

    # the schedules, for ``step`` counted from 1; the last step is always logged and saved
    def logs_at(self, step: int) -> bool:
        return step % self.cfg.train.log_every == 0 or step == self.cfg.train.steps

    def saves_at(self, step: int) -> bool:
        return step % self.cfg.train.checkpoint_every == 0 or step == self.cfg.train.steps

    def samples_at(self, step: int) -> bool:
        every = self.cfg.train.sample_every  # 0: never
        return bool(every) and step % every == 0

    def log_step(self, reading: LedgerReading) -> None:
        """The progress line, metrics.csv and TensorBoard: the mean loss of the good steps and
        the images per second since the last logged step."""
        s, tc = self.state, self.cfg.train
        now = time.time()
        rate = self.since_log * tc.batch_size / max(now - self.t_log, 1e-9)
        mean = reading.loss_sum / max(reading.good_steps, 1)
        gib = torch.cuda.max_memory_allocated(s.device) / 2**30 if s.cuda else None
        shown = {"loss": f"{mean:.4f}", "images/s": f"{rate:.1f}"}
        if gib is not None:
            shown["GPU GiB"] = f"{gib:.2f}"
        self.bar.set_postfix(shown)
        if self.main:
            lr = s.lr_at(s.step - 1)  # the lr of the step just taken
            _append_metrics(self.out / rundir.METRICS, [s.step, mean, lr, rate, now - self.t_start])
            self.log_scalars(mean, rate, gib)
        self.since_log, self.t_log = 0, now

    def sample(self) -> None:
        """Rank 0: the sample grid and the preview segmentation; their time is left out of the
        next images/s, which measures training."""
        if not self.main:
            return
        t0 = time.time()
        self.sample_grid()
        self.preview_segmentation()
        self.t_log += time.time() - t0

    def stop_voted(self, stop: sig.SignalRecorder, sync_point: bool) -> bool:
        """Whether every rank stops after this step. Under torchrun the vote is a collective,
        held at sync points and at agreed steps between them (fdiff.training.distributed.StopVote),
        so the host does not wait for the device at every step."""
        if not self.vote.due(self.state.step, sync_point):
            return False
        return self.vote(bool(stop), self.state.step)

    def preempt(self, stop: sig.SignalRecorder, saved: bool) -> NoReturn:
        """Every rank: the checkpoint of this step (none if its periodic one was just written),
        then rank 0's marker; raises :class:`Preempted`."""
        if saved:
            self.mark_preempted()
            barrier()
        else:
            self.check_finite(False)  # never the checkpoint of a failed run
            self.save_checkpoint(preempted=True)
        d = self.state.dist
        why = stop.name if stop else "another rank's signal"
        raise Preempted(
            f"rank {d.rank}: {why}: all {d.world} ranks stopped after step {self.state.step}; "
            f"checkpoint saved to {self.ckpt_path}"
        )

    # -- the run directory ----------------------------------------------------------------------
    def save_checkpoint(self, preempted: bool = False) -> None:
        """All ranks call it (the state gathers every rank's RNG); rank 0 writes. On a signal,
        the marker follows the checkpoint, so a marker always names a checkpoint on disk."""
        state = self.state.state_dict()
        if self.main:
            ckpt.save(state, self.ckpt_path)
            log.info("rank 0: checkpoint: step %d -> %s", self.state.step, self.ckpt_path)
        if preempted:
            self.mark_preempted()
        barrier()

    def mark_preempted(self) -> None:
        """Rank 0: RUN_DIR/.preempted holding the step (the checkpoint of that step is saved)."""
        if self.main:
            write_text(self.out / PREEMPTED_MARKER, f"{self.state.step}\n")

    def finish(self, signalled: bool) -> Path:
        """The final write, the checkpoint of the last step being on disk. It runs to its end
        whatever signal arrives; after a signal, the marker (holding the last step) stands
        while model.pt is written, so that a kill before the end leaves a run that the next
        attempt completes at once (it resumes at the last step and only writes model.pt)."""
        if signalled and self.main:
            self.mark_preempted()
            log.info("rank 0: signal after the last step: model.pt is written all the same")
        path = self.write_model()
        if self.main:
            (self.out / PREEMPTED_MARKER).unlink(missing_ok=True)  # finished: no verdict left
        return path

    def resume(self) -> bool:
        """Load ``checkpoints/last.pt`` if the run directory has one."""
        if self.main and self.ckpt_path.parent.is_dir():
            # temporary files of a write that a SIGKILL interrupted: never a valid checkpoint
            for stale in self.ckpt_path.parent.glob(".*.tmp*"):
                stale.unlink(missing_ok=True)
        if not self.ckpt_path.is_file():
            return False
        s = self.state
        s.load_state_dict(
            ckpt.load(self.ckpt_path, ckpt.TRAIN_FORMAT, map_location=s.device), self.ckpt_path
        )
        log.info("rank %d: resumed %s at step %d", s.dist.rank, self.out, s.step)
        return True

    def write_model(self) -> Path:
        """The final EMA weights as ``model.pt`` (docs/contracts.md)."""
        if self.main:
            s = self.state
            model = ckpt.model_state(self.cfg.model, self.cfg.diffusion, s.ema.state_dict(), s.step)
            ckpt.save(model, self.model_path)
            log.info("rank 0: model written to %s", self.model_path)
        return self.model_path

    def close(self) -> None:
        """The TensorBoard file flushed and closed (also on a preemption or an error)."""
        if self.board is not None:
            self.board.close()
            self.board = None

    # -- TensorBoard and pictures ---------------------------------------------------------------
    def log_scalars(self, loss: float, images_per_s: float, gpu_mem_gib: float | None) -> None:
        if self.board is None:
            return
        s = self.state
        values = {"loss": loss, "lr": s.lr_at(s.step - 1), "images_per_s": images_per_s}
        if s.grad_norm is not None:
            values["grad_norm"] = float(s.grad_norm)
        if gpu_mem_gib is not None:
            values["gpu_mem_gib"] = gpu_mem_gib
        self.board.scalars(s.step, values)

    @torch.no_grad()
    def preview_segmentation(self) -> None:
        """TensorBoard: the EMA model's segmentation of the first preview images (fixed noise)."""
        from fdiff.diffusion.samplers import segment
        from fdiff.inference.visual import masks_picture

        if self.board is None or not self.cfg.model.factorized:
            return
        s = self.state
        items = [self.preview[i] for i in range(min(PREVIEW_IMAGES, len(self.preview)))]
        x0, y = collate(items)
        x0 = x0.to(s.device)
        x0 = uint8_to_float(x0) if x0.dtype == torch.uint8 else x0
        y = y.to(s.device).clamp(min=0) if self.cfg.model.num_classes else None
        t = max(1, round(PREVIEW_T * s.diffusion.num_timesteps))
        # own generators, here and in the grid: the pictures draw nothing from training's RNGs
        g = torch.Generator(s.device).manual_seed(0)
        s.ema.eval()
        masks = segment(s.ema, s.diffusion, x0, t, y, generator=g)
        self.board.picture("segmentation", masks_picture(x0, masks), s.step)

    @torch.no_grad()
    def sample_grid(self) -> Path:
        """A DDIM-50 grid of EMA samples with their masks: RUN_DIR/samples/step_XXXXXXX.png,
        and in TensorBoard."""
        from fdiff.diffusion.samplers import ddim_sample
        from fdiff.inference.visual import masks_picture, save_png

        s = self.state
        n, res = self.cfg.train.sample_num, self.cfg.model.resolution
        y = None
        if self.cfg.model.num_classes:
            y = torch.arange(n, device=s.device) % self.cfg.model.num_classes
        g = torch.Generator(s.device).manual_seed(1234)
        s.ema.eval()
        out = ddim_sample(s.ema, s.diffusion, (n, 3, res, res), steps=50, y=y, generator=g,
                          progress=False)  # fmt: skip
        path = self.out / "samples" / f"step_{s.step:07d}.png"
        picture = masks_picture(out.images, out.masks)
        save_png(picture, path)
        if self.board is not None:
            self.board.picture("samples", picture, s.step)
        return path


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
