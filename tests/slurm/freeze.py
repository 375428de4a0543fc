"""A signal at a step the test chooses, whatever the machine's speed.

The SLURM tests stop a training with a time limit or a preemption; when SLURM sends the signal
depends on its own periodic checks (seconds apart), so a fast machine might finish training
first and a slow one not have started. Instead the test waits until the run has logged step
``K`` (RUN_DIR/metrics.csv), freezes every training process with SIGSTOP (they all run on this
machine), and only then makes SLURM act. SLURM sends SIGCONT before SIGTERM to the processes
of the job (measured on the fixture: a time limit lowered with `scontrol update` is enforced
within seconds and wakes a stopped process); in case it does not, :func:`thaw_when_signalled`
continues them once SIGTERM is pending. The ranks then agree on a step at least ``K``: the
preemption step is far from the last step on any machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from fdiff.training.rundir import METRICS

POLL = 0.05  # seconds: at 50 steps/s (4x today's fastest machine) a few steps at most


def logged_step(run: Path) -> int:
    """The last step in RUN_DIR/metrics.csv (0 before the first row)."""
    try:
        lines = (run / METRICS).read_text().split()
    except FileNotFoundError:
        return 0
    for line in reversed(lines[1:]):
        first = line.split(",")[0]
        if first.isdigit():
            return int(first)
    return 0


def _argv(pid: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def training_pids(run: Path) -> list[int]:
    """The ranks of `fdiff train --out RUN` (torchrun's workers and their DataLoader workers),
    not torchrun itself, nor `fdiff train-attempt`, nor the shells whose command text names
    the run."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        argv = _argv(pid)
        if len(argv) < 3 or not Path(argv[0]).name.startswith("python"):
            continue
        if any(Path(a).name == "torchrun" for a in argv[1:3]) or "train-attempt" in argv:
            continue  # the launcher, and the rule's attempt verb that waits for it
        if "train" in argv and "--out" in argv and str(run) in argv:
            out.append(int(pid))
    return out


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _term_pending(st: dict[str, str]) -> bool:
    bit = 1 << (signal.SIGTERM - 1)
    return any(int(st.get(k, "0"), 16) & bit for k in ("SigPnd", "ShdPnd"))


def freeze_at(
    run: Path, step: int, ranks: int, timeout: float, stop: threading.Event
) -> tuple[list[int], int]:
    """Wait until RUN has logged ``step`` with ``ranks`` training processes up, SIGSTOP them
    all; returns their pids and the last logged step when they stopped. Gives up when ``stop``
    is set (the workflow ended)."""
    deadline = time.time() + timeout
    while time.time() < deadline and not stop.is_set():
        if logged_step(run) >= step and len(pids := training_pids(run)) >= ranks:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            return pids, logged_step(run)
        time.sleep(POLL)
    raise TimeoutError(f"{run}: step {step} not logged (logged: {logged_step(run)})")


def thaw_when_signalled(pids: list[int], timeout: float) -> str:
    """After the test made SLURM act: wait until SLURM has continued the frozen processes, or
    SIGTERM is pending in one of them (then SIGCONT them all). Returns which happened."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = [st for st in map(_status, pids) if st]
        if not states or any(not st["State"].startswith("T") for st in states):
            how = "continued by SLURM"
            break
        if any(map(_term_pending, states)):
            how = "SIGTERM pending: continued by the test"
            break
        time.sleep(POLL)
    else:
        how = f"no signal within {timeout:.0f} s: continued by the test"
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    return how


def elapsed_minutes(job: str) -> int:
    """Whole minutes job ``job`` has run (squeue's TIME: [[D-]H:]M:S)."""
    text = subprocess.run(["squeue", "-h", "-j", job, "-o", "%M"], capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    days, _, hms = text.rpartition("-")
    parts = [int(p) for p in hms.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 1440 + parts[0] * 60 + parts[1]


def time_limit_now(job: str) -> int:
    """Lower ``job``'s time limit to what it has run (at least SLURM's smallest, 1 minute):
    slurmctld's next periodic check ends it as at a real time limit. Returns the limit."""
    minutes = max(1, elapsed_minutes(job))
    subprocess.run(["scontrol", "update", f"JobId={job}", f"TimeLimit={minutes}"], check=True)
    return minutes
