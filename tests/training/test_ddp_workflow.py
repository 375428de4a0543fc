"""The workflow's train rule with torchrun (2 processes, gloo on CPU) under the local executor:
a preempted attempt (SIGTERM to the rule's shell, torchrun and its workers, as SLURM sends it
to every process of a job) is retried and resumes; a real failure is not retried in a loop.
Whether an attempt was preempted is read from RUN_DIR/.preempted, never from torchrun's exit
status (1 in both cases)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from snakerun import without_slurm
from workflow_config import shapes16_config

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.workflow]


def _snakemake(tmp_path, steps, batch):
    tmp_path.mkdir()
    results = tmp_path / "r"
    cfg = tmp_path / "config.yaml"
    train = dict(steps=steps, batch_size=batch, checkpoint_every=100000, log_every=1, device="cpu")
    launch = dict(nodes=1, gpus_per_node=2, cpus_per_gpu=1, threads=2, mem_mb=1000, runtime=10,
                  retries=2)  # fmt: skip
    cfg.write_text(shapes16_config(results, gpu=0, train=train, launch=launch))
    run = results / "shapes-16" / "factorized"
    cmd = ["timeout", "-s", "INT", "800", "snakemake", str(run / "model.pt"), "--cores", "2",
           "--configfile", str(cfg)]  # fmt: skip
    env = without_slurm(dict(os.environ, OMP_NUM_THREADS="1"))
    return cmd, env, run, results / "logs" / "train" / "shapes-16-factorized.log"


def _processes_of(run: Path) -> list[int]:
    """The rule's shell, torchrun and the workers: every process naming the run directory."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"--out {run}" in cmd or ('--out "$rd"' in cmd and str(run) in cmd):
                out.append(int(proc.name))
    return out


def _start_training(cmd, env, run, out):
    """Start the snakemake command; return once training logged its first step (and the
    deadline of the whole run, 300 s from now)."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while not (run / "metrics.csv").exists():
        assert proc.poll() is None and time.time() < deadline, "training did not start"
        time.sleep(0.2)
    return proc, deadline


def test_train_rule_retries_preemption_not_failure(tmp_path):
    cmd, env, run, log = _snakemake(tmp_path / "pre", steps=12, batch=4)
    with open(tmp_path / "pre.log", "w") as out:
        proc, deadline = _start_training(cmd, env, run, out)
        for pid in _processes_of(run):  # as SLURM does: every process of the job
            os.kill(pid, signal.SIGTERM)
        rc = proc.wait(timeout=800)
    assert rc == 0, (tmp_path / "pre.log").read_text()[-3000:]
    attempts = (run / "attempts.log").read_text().splitlines()
    assert len(attempts) == 2 and "preempted step=" in attempts[0], attempts
    step = int(attempts[0].rsplit("=", 1)[1])
    assert 0 < step < 12 and attempts[1].endswith("complete step=done")
    text = log.read_text()
    assert f"the previous attempt was preempted at step {step}; resuming" in text
    assert f"rank 0: resumed {run} at step {step}" in text

    # a real failure on every rank (a global batch of 3 does not split over 2 ranks): one
    # attempt trains, the next refuses, launch.retries is not used up in a loop
    cmd, env, run, log = _snakemake(tmp_path / "fail", steps=4, batch=3)
    failed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert failed.returncode != 0
    attempts = (run / "attempts.log").read_text().splitlines()
    assert len(attempts) == 1 and "failed step=exit-" in attempts[0], attempts
    assert (run / ".failed").exists() and not (run / ".preempted").exists()
    text = log.read_text()
    assert "the previous attempt failed" in text and "not retrying" in text


def test_train_rule_signal_after_the_last_step_is_not_a_failure(tmp_path):
    """SLURM's time limit after the last step, while rank 0 writes the final checkpoint and
    model.pt: torchrun, signalled, exits 1 and no marker is left, yet the attempt is complete
    (model.pt is there), not `failed step=exit-1`."""
    steps = 8
    cmd, env, run, log = _snakemake(tmp_path / "end", steps=steps, batch=4)
    with open(tmp_path / "end.log", "w") as out:
        proc, deadline = _start_training(cmd, env, run, out)
        pids = _processes_of(run)  # the shell, torchrun and its 2 workers
        assert len(pids) >= 4, pids
        # frozen the moment rank 0 logs the last step: the signal arrives after it, as SLURM's
        # to every process of the job
        rows, prefix = run / "metrics.csv", f"\n{steps},".encode()
        while prefix not in rows.read_bytes():
            assert proc.poll() is None and time.time() < deadline, "no last step"
            time.sleep(0.001)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        where = "model.pt written" if (run / "model.pt").exists() else "before model.pt"
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        rc = proc.wait(timeout=800)
    assert rc == 0, (tmp_path / "end.log").read_text()[-3000:]
    attempts = (run / "attempts.log").read_text().splitlines()
    assert len(attempts) == 1 and attempts[0].endswith("complete step=done"), (where, attempts)
    assert not (run / ".failed").exists() and not (run / ".preempted").exists()
    text = log.read_text()
    assert "signal received" in text  # the shell got it too
    # torchrun was signalled: its status is 1 whatever its workers did
    assert "model.pt written: training finished; launcher exit status 1" in text, text[-3000:]
    print(f"signal arrived {where}")
