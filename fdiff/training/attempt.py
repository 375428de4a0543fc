"""One attempt at a training run: what the train rule runs (``fdiff train-attempt``).

The attempt runs the launcher (``fdiff``, torchrun, or srun + torchrun) as a child process and
settles its verdict from what training wrote in the run directory, never from the launcher's
exit status (torchrun and srun exit 1 both when signalled and on a failure):

- ``model.pt`` is there: complete (a signal after the last step stops nothing);
- ``.preempted`` is there: preempted at that step; exit 75, the retry resumes;
- this process got SIGTERM/SIGINT/SIGUSR1 but training left no marker (killed before it could
  checkpoint): preempted at step ``none``; exit 75, the retry resumes from the last checkpoint;
- otherwise: failed; ``.failed`` holds the exit status and the next attempt of the same
  invocation refuses to run, so a real failure is not retried in a loop.

SLURM signals every process of the job: this process records the signal and waits for training
to checkpoint and exit (it does not forward it: torchrun, signalled twice, may stop waiting for
its workers). Attempts are numbered in attempts.log, from 1 for each new run (new inputs, a new
Snakemake invocation, a run after a complete one), so that ``launch.retries`` also counts the
requeues of one SLURM job, which Snakemake's attempt number does not see.

A run directory whose last run finished on the same inputs (run config and data) gets its
``model.pt`` back from the final checkpoint in seconds, without the launcher. When the inputs
changed, the previous run's checkpoints, metrics and attempts are moved to
``superseded/WHEN-FP/``; its checkpoints are deleted (and the log says so) once the new run has
written its first checkpoint.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fdiff.errors import FdiffError
from fdiff.training import rundir
from fdiff.training.signals import ATTEMPT_STOP, SignalRecorder


@dataclass(frozen=True)
class AttemptOptions:
    config: Path
    data: Path
    out: Path
    command: list[str]  # what trains: [fdiff | torchrun ... -m fdiff | srun ...] train
    retries: int  # launch.retries: resubmissions of one run
    log: Path
    snakemake_attempt: int = 1  # Snakemake's own attempt number (1 after a requeue, too)


class _Log:
    """The job's log: the attempt's own lines (``train: attempt N: ...``) and the launcher's
    output, appended to one file."""

    def __init__(self, path: Path):
        self.path, self.number, self.recorded = path, 0, False

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a", buffering=1)  # noqa: SIM115 (closed by __exit__)
        return self

    def __exit__(self, *exc):
        self.file.close()

    def say(self, text: str) -> None:
        self.file.write(f"train: attempt {self.number}: {text}\n")
        self.file.flush()


def _host() -> str:
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def _job() -> str:
    return os.environ.get("SLURM_JOB_ID") or "none"


def _number(rd: Path, snakemake_attempt: int) -> int:
    """This attempt's number in the current run (1 starts a new run)."""
    last = rundir.last_attempt(rd)
    if last is None or last.verdict == "complete":
        return 1
    # Snakemake's first attempt in another job (or outside SLURM): a new invocation by the user,
    # which starts a new count; the same job again is a SLURM requeue, which does not.
    if snakemake_attempt == 1 and (_job() == "none" or _job() != last.job):
        return 1
    return last.number + 1


def move_aside(rd: Path, fingerprint: str) -> Path | None:
    """Move the state of the run trained on ``fingerprint`` to RUN_DIR/superseded/WHEN-FP."""
    present = [n for n in rundir.RUN_STATE if (rd / n).exists()]
    if not present:
        return None
    when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = rd / rundir.SUPERSEDED / rundir.superseded_name(fingerprint, when)
    dest.mkdir(parents=True, exist_ok=True)
    for name in present:
        os.replace(rd / name, dest / name)
    return dest


def prune_superseded(rd: Path, log: _Log) -> None:
    """Once the new run has a checkpoint of its own, the superseded checkpoints go (said so)."""
    if not (rd / rundir.LAST_CHECKPOINT).is_file():
        return
    for old in sorted((rd / rundir.SUPERSEDED).glob(f"*/{rundir.CHECKPOINTS}")):
        shutil.rmtree(old)
        log.say(
            f"the new run has written its first checkpoint: removed the superseded "
            f"checkpoints {old} (that run's metrics, config and attempts are kept beside them)"
        )


def reinstate(rd: Path, config: Path) -> int | None:
    """model.pt from the final checkpoint of a finished run (its EMA weights, as training
    writes them); the step, or None when the checkpoint is missing or not at the last step."""
    ckpt_path = rd / rundir.LAST_CHECKPOINT
    if not ckpt_path.is_file():
        return None
    from fdiff.config import RunConfig
    from fdiff.training import checkpoint as ckpt

    cfg = RunConfig.from_yaml(config)
    state = ckpt.load(ckpt_path, ckpt.TRAIN_FORMAT)
    saved = RunConfig.from_dict(state["config"], f"{ckpt_path}: config")
    if int(state["step"]) < cfg.train.steps or (saved.model, saved.diffusion) != (
        cfg.model,
        cfg.diffusion,
    ):
        return None
    model = ckpt.model_state(cfg.model, cfg.diffusion, state["ema"], int(state["step"]))
    ckpt.save(model, rd / rundir.MODEL)
    return int(state["step"])


def _launch_command(o: AttemptOptions) -> list[str]:
    """The command, given --config, --data and --out; a leading ``fdiff`` is this
    interpreter's (where ``fdiff`` is a shell function of the rule's conda prefix)."""
    command = list(o.command)
    if command[0] == "fdiff":
        command[:1] = [sys.executable, "-m", "fdiff"]
    return [*command, "--config", str(o.config), "--data", str(o.data), "--out", str(o.out)]


def run(o: AttemptOptions) -> int:
    """One attempt; its exit status: 0 complete, 75 preempted (retry), else failed."""
    rd = o.out
    for path, what in ((o.config, "run config"), (o.data, "data file")):
        if not path.is_file():
            raise FdiffError(f"{path}: no such {what}")
    rd.mkdir(parents=True, exist_ok=True)
    with _Log(o.log) as log:
        status = _attempt(o, rd, log)
    if log.recorded:  # Snakemake empties the job's log before its next attempt: each is kept
        shutil.copyfile(o.log, f"{o.log}.attempt-{log.number}")
    return status


def _attempt(o: AttemptOptions, rd: Path, log: _Log) -> int:
    fp = rundir.inputs_fingerprint(o.config, o.data)
    old = rundir.read_inputs(rd)
    moved = move_aside(rd, old) if old is not None and old != fp else None
    n = log.number = _number(rd, o.snakemake_attempt)
    if moved is not None:
        log.say(
            f"the run config or the data changed since the checkpoints were written: that "
            f"run moved to {moved}; training starts from scratch"
        )
    if n == 1:
        (rd / rundir.FAILED).unlink(missing_ok=True)
    elif (status := rundir.read_failed(rd)) is not None:
        log.say(
            f"the previous attempt failed (exit status {status}, no preemption marker); "
            "not retrying"
        )
        return 1
    elif n > o.retries + 1:
        log.say(f"launch.retries = {o.retries} resubmissions used up; not retrying")
        return 1
    elif (step := rundir.read_preempted(rd)) is not None:
        log.say(f"the previous attempt was preempted at step {step}; resuming")
    else:
        log.say(
            "the previous attempt left no preemption marker (killed, or signalled before fdiff "
            "could checkpoint); resuming from the last checkpoint"
        )
    (rd / rundir.MODEL).unlink(missing_ok=True)
    if (rd / rundir.COMPLETE).exists():
        # a finished run asked for again (model.pt deleted, a forced rerun, run.yaml rewritten
        # with the same content): its final checkpoint is the model
        step = reinstate(rd, o.config)
        if step is not None:
            log.say(
                f"reinstated model.pt from the final checkpoint (step {step}) of a finished "
                "run on the same inputs; nothing trained"
            )
            return _verdict(rd, log, n, "complete", "done", 0)
        dest = move_aside(rd, fp)
        log.say(f"a finished run without its final checkpoint: moved to {dest}; training anew")
    (rd / rundir.PREEMPTED).unlink(missing_ok=True)
    (rd / rundir.INPUTS).write_text(fp + "\n")
    log.say(f"on {_host()} (SLURM job {_job()})")
    waiting = "signal received; waiting for training to checkpoint"
    # until the verdict is written: SLURM signals this process too, and it must outlive training
    with SignalRecorder(ATTEMPT_STOP, on_first=lambda _: log.say(waiting)) as signalled:
        child = subprocess.Popen(_launch_command(o), stdout=log.file, stderr=log.file)
        rc = child.wait()  # a signal is recorded; the wait goes on (PEP 475)
        prune_superseded(rd, log)
        return _classify(rd, log, n, rc, bool(signalled))


def _classify(rd: Path, log: _Log, n: int, rc: int, signalled: bool) -> int:
    if (rd / rundir.MODEL).exists():
        if rc != 0:
            log.say(
                f"model.pt written: training finished; launcher exit status {rc} after the "
                "final write (a signal after the last step: torchrun exits 1) ignored"
            )
        (rd / rundir.COMPLETE).touch()
        return _verdict(rd, log, n, "complete", "done", 0)
    step = rundir.read_preempted(rd)
    if step is not None:
        log.say(
            f"preempted: checkpoint at step {step} saved on the signal (launcher exit status "
            f"{rc}); the retry resumes"
        )
        return _verdict(rd, log, n, "preempted", str(step), rundir.EXIT_PREEMPTED)
    if signalled:
        log.say(
            f"signalled, but training left no marker (killed before it could checkpoint; "
            f"launcher exit status {rc}); the retry resumes from the last checkpoint"
        )
        return _verdict(rd, log, n, "preempted", "none", rundir.EXIT_PREEMPTED)
    status = rc if rc != 0 else 1  # exit 0 without model.pt is no success
    (rd / rundir.FAILED).write_text(f"{rc}\n")
    return _verdict(rd, log, n, "failed", f"exit-{rc}", status)


def _verdict(rd: Path, log: _Log, n: int, verdict: str, step: str, status: int) -> int:
    rundir.append_attempt(rd, rundir.Attempt(n, _host(), _job(), verdict, step))
    log.recorded = True
    return status
