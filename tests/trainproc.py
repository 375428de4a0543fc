"""A real ``fdiff train`` process for the tests that signal it: its command line, and freezing
it right after a given step (SIGSTOP when metrics.csv shows the step's row) to signal it there."""

from __future__ import annotations

import os
import signal
import sys
import time

# bit-exact comparisons need the same deterministic kernels in every process: one thread
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def train_cmd(run_yaml, data, out):
    return [sys.executable, "-m", "fdiff", "train", "--config", str(run_yaml),
            "--data", str(data), "--out", str(out)]  # fmt: skip


def stop_at_row(pids: list[int], metrics, step: int, timeout: float = 240) -> None:
    """SIGSTOP ``pids`` as soon as metrics.csv has the row of ``step`` (rank 0 appends it right
    after that step, before the step's checkpoint): they stay frozen just after that step."""
    deadline, prefix = time.time() + timeout, f"\n{step},".encode()
    while time.time() < deadline:
        try:
            if prefix in metrics.read_bytes():
                break
        except FileNotFoundError:
            pass
        time.sleep(0.001)
    else:
        raise AssertionError(f"{metrics}: no row for step {step}")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # ProcessLookupError: it had already exited


def signal_frozen(pids: list[int], sig=signal.SIGTERM) -> None:
    for pid in pids:
        os.kill(pid, sig)
    for pid in pids:
        os.kill(pid, signal.SIGCONT)
