"""TensorBoard event files of a training run: RUN_DIR/tensorboard/ (rank 0 only).

``tensorboard`` is an optional dependency (``pip install fdiff[tensorboard]``): without it, or
with ``train.tensorboard: false``, training writes no events and says so once in its log.

A run is one TensorBoard run across its attempts: an attempt that resumes at step S opens a
new event file with ``purge_step = S + 1``, so that whatever an earlier attempt logged after
its last checkpoint (a SIGKILL between two checkpoints) is dropped by the readers and the curve
stays continuous, without a step twice. A run that starts from step 0 has no earlier curve:
its directory is emptied first.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from fdiff.training.rundir import TENSORBOARD

log = logging.getLogger(__name__)

FLUSH_SECONDS = 30  # what a watcher sees lags training by at most this


def available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


class RunBoard:
    """Scalars and pictures of one run, written to RUN_DIR/tensorboard from ``start_step``."""

    def __init__(self, run_dir: str | Path, start_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.dir = Path(run_dir) / TENSORBOARD
        if start_step == 0:
            shutil.rmtree(self.dir, ignore_errors=True)
        purge = start_step + 1 if start_step > 0 else None
        self.writer = SummaryWriter(str(self.dir), purge_step=purge, flush_secs=FLUSH_SECONDS)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One point of each series ``train/<name>`` at ``step``."""
        for name, value in values.items():
            self.writer.add_scalar(f"train/{name}", float(value), step)

    def picture(self, tag: str, picture: np.ndarray, step: int) -> None:
        """A uint8 [H x W x 3] picture (fdiff.inference.visual) at ``step``."""
        self.writer.add_image(tag, picture, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def open_board(run_dir: str | Path, enabled: bool, start_step: int) -> RunBoard | None:
    """The run's board, or None when turned off or when tensorboard is not installed."""
    if not enabled:
        return None
    if not available():
        log.info("tensorboard is not installed: no event files (pip install 'fdiff[tensorboard]')")
        return None
    try:
        return RunBoard(run_dir, start_step)
    except ImportError as e:  # e.g. a tensorboard too old for torch: watching is not training
        log.warning("no TensorBoard event files: %s", e)
        return None
