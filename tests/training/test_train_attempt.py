"""``fdiff train-attempt`` (fdiff.training.attempt): every verdict, the retry count across SLURM
requeues, the reinstated model of a finished run and the superseded run of changed inputs. The
launchers are real processes: a tiny script that writes what training would (the marker, model.pt, a
checkpoint), exits with a status or waits for a real signal; and `fdiff train` itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fdiff.training import rundir

FAKE = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    mode = sys.argv[1]
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    (out / "child.pid").write_text(str(os.getpid()))
    if mode == "complete":
        (out / "model.pt").write_text("model")
        sys.exit(int(os.environ.get("FAKE_RC", "0")))
    if mode == "checkpoint":  # the first checkpoint of a new run, then a failure
        (out / "checkpoints").mkdir(exist_ok=True)
        (out / "checkpoints" / "last.pt").write_text("new")
        sys.exit(1)
    if mode == "exit":
        sys.exit(int(os.environ["FAKE_RC"]))
    if mode == "marker":  # as fdiff train on SIGTERM: checkpoint, marker, exit 75
        signal.signal(signal.SIGTERM, lambda *a: (
            (out / ".preempted").write_text("7\\n"), sys.exit(75)))
    # mode "killed": the default SIGTERM: dies before any checkpoint
    (out / "started").write_text("")
    while True:
        time.sleep(0.05)
    """
)


@pytest.fixture
def run(tmp_path):
    """A run directory with its run.yaml and data file; returns a function that runs one
    attempt (a real `fdiff train-attempt` process) and returns its exit status."""
    fake = tmp_path / "fake.py"
    fake.write_text(FAKE)
    rd = tmp_path / "run"
    rd.mkdir()
    (rd / "run.yaml").write_text("train: {steps: 2}\n")
    (tmp_path / "data.h5").write_text("data")

    def attempt(mode, snakemake_attempt=1, retries=2, env=None, signal_it=False):
        cmd = [sys.executable, "-m", "fdiff", "train-attempt", "--config", str(rd / "run.yaml"),
               "--data", str(tmp_path / "data.h5"), "--out", str(rd), "--retries", str(retries),
               "--attempt", str(snakemake_attempt), "--log", str(tmp_path / "train.log"), "--",
               sys.executable, str(fake), mode]  # fmt: skip
        full = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
        full.pop("SLURM_JOB_ID", None)
        proc = subprocess.Popen(cmd, env={**full, **(env or {})})
        if signal_it:  # as SLURM: the signal to every process of the job
            deadline = time.time() + 120
            while not (rd / "started").exists():
                assert proc.poll() is None and time.time() < deadline, "the launcher never ran"
                time.sleep(0.05)
            child = int((rd / "child.pid").read_text())
            (rd / "started").unlink()
            os.kill(proc.pid, signal.SIGTERM)
            os.kill(child, signal.SIGTERM)
        return proc.wait(timeout=120)

    attempt.rd, attempt.log = rd, tmp_path / "train.log"
    return attempt


def lines(rd):
    return [a.line() for a in rundir.read_attempts(rd)]


def test_complete_whatever_the_launcher_status(run):
    assert run("complete", env={"FAKE_RC": "1"}) == 0  # torchrun signalled after the last step
    assert lines(run.rd) == [f"attempt=1 host={os.uname().nodename} job=none complete step=done"]
    assert (run.rd / rundir.COMPLETE).exists() and not (run.rd / rundir.FAILED).exists()
    assert "launcher exit status 1 after the final write" in run.log.read_text()
    assert (run.rd.parent / "train.log.attempt-1").exists()


def test_preempted_at_the_marker_step_then_resumed(run):
    assert run("marker", signal_it=True) == rundir.EXIT_PREEMPTED
    (a,) = rundir.read_attempts(run.rd)
    assert (a.number, a.verdict, a.step) == (1, "preempted", "7")
    text = run.log.read_text()
    assert "signal received; waiting for training to checkpoint" in text
    assert "preempted: checkpoint at step 7 saved on the signal" in text
    assert run("complete", snakemake_attempt=2) == 0
    assert "the previous attempt was preempted at step 7; resuming" in run.log.read_text()
    assert [(a.number, a.verdict) for a in rundir.read_attempts(run.rd)] == [
        (1, "preempted"), (2, "complete"),
    ]  # fmt: skip


def test_signalled_without_marker_is_preempted_at_no_step(run):
    assert run("killed", signal_it=True) == rundir.EXIT_PREEMPTED
    (a,) = rundir.read_attempts(run.rd)
    assert (a.verdict, a.step) == ("preempted", "none")
    assert "training left no marker" in run.log.read_text()
    assert run("complete", snakemake_attempt=2) == 0
    assert "left no preemption marker" in run.log.read_text()


def test_failure_is_not_retried_in_a_loop(run):
    assert run("exit", env={"FAKE_RC": "3"}) == 3
    (a,) = rundir.read_attempts(run.rd)
    assert (a.verdict, a.step) == ("failed", "exit-3")
    assert (run.rd / rundir.FAILED).read_text().strip() == "3"
    assert run("complete", snakemake_attempt=2) == 1  # refused: the launcher does not run
    assert not (run.rd / rundir.MODEL).exists() and len(lines(run.rd)) == 1
    assert "the previous attempt failed (exit status 3" in run.log.read_text()
    # a new invocation (Snakemake's attempt 1, no SLURM job) tries again
    assert run("complete") == 0 and not (run.rd / rundir.FAILED).exists()


def test_retries_count_slurm_requeues(run):
    """A requeued SLURM job keeps its id and Snakemake's attempt 1: attempts.log counts."""
    job = {"SLURM_JOB_ID": "41"}
    for n in (1, 2, 3):
        assert run("marker", env=job, retries=2, signal_it=True) == rundir.EXIT_PREEMPTED
        assert rundir.last_attempt(run.rd).number == n
    assert run("complete", env=job, retries=2) == 1  # retries 2: three attempts, then refused
    assert "launch.retries = 2 resubmissions used up; not retrying" in run.log.read_text()
    # another job at Snakemake's attempt 1 is a new invocation: a new count
    assert run("complete", env={"SLURM_JOB_ID": "42"}, retries=2) == 0
    assert rundir.last_attempt(run.rd).number == 1


def test_changed_inputs_move_the_run_aside_until_the_new_first_checkpoint(run):
    assert run("complete") == 0
    (run.rd / "checkpoints").mkdir()
    (run.rd / "checkpoints" / "last.pt").write_text("old")
    (run.rd / "metrics.csv").write_text("step\n")
    old = rundir.read_inputs(run.rd)
    (run.rd / "run.yaml").write_text("train: {steps: 3}\n")
    assert run("exit", env={"FAKE_RC": "2"}) == 2  # the new run fails before any checkpoint
    (aside,) = (run.rd / rundir.SUPERSEDED).iterdir()
    assert aside.name.endswith("-" + old[:12])
    assert (aside / "checkpoints" / "last.pt").read_text() == "old"  # kept
    assert (aside / "metrics.csv").exists() and (aside / rundir.COMPLETE).exists()
    assert len(rundir.read_attempts(aside)) == 1  # the old run's attempts went with it
    assert rundir.read_inputs(run.rd) != old and not (run.rd / "metrics.csv").exists()
    assert run("checkpoint") == 1  # a new invocation: the new run writes its first checkpoint
    assert not (aside / "checkpoints").exists() and (aside / "metrics.csv").exists()
    assert "removed the superseded checkpoints" in run.log.read_text()


def test_a_finished_run_is_reinstated_not_retrained(tmp_path, shapes16):
    """`fdiff train` for real, then the rerun of the finished run (model.pt deleted): model.pt
    comes back from the final checkpoint and the launcher is not run (here it would fail)."""
    import torch

    from fdiff.training import checkpoint as ckpt

    rd = tmp_path / "run"
    rd.mkdir()
    cfg = rd / "run.yaml"
    cfg.write_text(
        "model: {preset: tiny}\n"
        "train: {steps: 2, batch_size: 4, log_every: 1, checkpoint_every: 1, device: cpu}\n"
    )
    log = tmp_path / "train.log"

    def attempt(*command):
        return subprocess.run(
            [sys.executable, "-m", "fdiff", "train-attempt", "--config", str(cfg), "--data",
             str(shapes16), "--out", str(rd), "--retries", "0", "--log", str(log), "--",
             *command],  # fmt: skip
            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300,
        ).returncode  # fmt: skip

    assert attempt("fdiff", "train") == 0, log.read_text()[-2000:]
    trained = ckpt.load(rd / "model.pt", ckpt.MODEL_FORMAT)
    (rd / "model.pt").unlink()
    assert attempt("false") == 0, log.read_text()[-2000:]
    again = ckpt.load(rd / "model.pt", ckpt.MODEL_FORMAT)
    assert again["step"] == trained["step"] == 2
    for k, v in trained["state_dict"].items():
        assert torch.equal(v, again["state_dict"][k]), k
    assert "reinstated model.pt from the final checkpoint (step 2)" in log.read_text()
    assert [a.verdict for a in rundir.read_attempts(rd)] == ["complete", "complete"]
