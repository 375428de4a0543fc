"""Preemption as SLURM does it, on the real two-node cluster in REQUEUE mode
(tests/slurm/cluster.sh with FDIFF_SLURM_PREEMPT=REQUEUE: PreemptType=preempt/partition_prio,
`gpu` preemptible, `high` not): a 2-node x 2-rank training submitted by `snakemake --profile
slurm` is preempted by a job on `high` at a step the test chooses (tests/slurm/freeze.py),
checkpoints on the signal, is requeued by SLURM as the same job (Snakemake's attempt stays 1),
resumes from that checkpoint and finishes; attempts.log counts the preemption.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from freeze import freeze_at, thaw_when_signalled
from test_slurm_multinode import LAUNCH, TRAIN, _show_job, _watch_jobs
from workflow_config import shapes16_config

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

FREEZE_STEP = 30


def _cluster(action: str, **env: str) -> None:
    r = subprocess.run(["bash", str(HERE / "cluster.sh"), action], capture_output=True,
                       text=True, env=dict(os.environ, **env), timeout=240)  # fmt: skip
    assert r.returncode == 0, f"cluster.sh {action} failed:\n{r.stdout}\n{r.stderr}"


@pytest.fixture
def requeue_cluster(slurm_cluster):
    _cluster("stop")
    _cluster("start", FDIFF_SLURM_PREEMPT="REQUEUE")
    yield
    _cluster("stop")
    _cluster("start", FDIFF_SLURM_PREEMPT="")


def _preempt_at_step(run: Path, records: dict, driven: dict, stop: threading.Event) -> None:
    """Frozen at FREEZE_STEP, then preempted by a whole-cluster job on `high`."""
    try:
        while not records and not stop.is_set():
            stop.wait(0.2)
        if stop.is_set():
            return
        job = next(iter(records))
        pids, step = freeze_at(run, FREEZE_STEP, ranks=4, timeout=600, stop=stop)
        high = subprocess.run(["sbatch", "--parsable", "-p", "high", "-N2", "--exclusive",
                               "-t", "1", "--wrap", "sleep 5"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        driven.update(job=job, frozen=len(pids), logged=step, high=high)
        t = time.time()
        driven["thawed"] = thaw_when_signalled(pids, timeout=180)
        driven["signal_after_s"] = round(time.time() - t, 1)
    except Exception as e:  # reported by the test
        driven["error"] = repr(e)


def test_two_nodes_preempted_requeued_resumed(requeue_cluster, tmp_path):
    t0 = time.time()
    results = tmp_path / "r"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(shapes16_config(results, gpu=1, train=TRAIN, launch=LAUNCH))
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    subprocess.run(["bash", str(REPO / "workflow/profiles/install.sh")], env=env, check=True)
    run = results / "shapes-16" / "factorized"
    cmd = ["timeout", "-s", "INT", "840", "snakemake", str(run / "model.pt"), "--profile",
           "slurm", "--profile", str(HERE / "profile"), "--configfile", str(cfg)]  # fmt: skip
    records: dict[str, str] = {}
    driven: dict = {}
    stop = threading.Event()
    threads = [
        threading.Thread(target=_watch_jobs, args=(records, stop), daemon=True),
        threading.Thread(target=_preempt_at_step, args=(run, records, driven, stop), daemon=True),
    ]
    for th in threads:
        th.start()
    with open(tmp_path / "snakemake.log", "w") as log:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    stop.set()
    for th in threads:
        th.join()
    out = (tmp_path / "snakemake.log").read_text()
    print(f"REQUEUE preemption test: {time.time() - t0:.0f} s wall; driven: {driven}")
    assert "error" not in driven, driven
    assert proc.returncode == 0, out[-4000:]

    # SLURM's view: one job, requeued once (the same id ran twice), on 2 nodes
    assert list(records) == [driven["job"]], records
    ended = _show_job(driven["job"])
    assert "JobState=COMPLETED" in ended and "Restarts=1" in ended, ended
    assert driven["frozen"] == 4, driven

    attempts = (run / "attempts.log").read_text().splitlines()
    print("attempts.log:\n" + "\n".join(attempts))
    assert len(attempts) == 2, attempts  # the preempted attempt and the requeued one
    first = re.search(rf"attempt=1 .*job={driven['job']} .*preempted step=(\d+)", attempts[0])
    assert first and int(first.group(1)) >= FREEZE_STEP, attempts
    assert re.search(rf"attempt=2 .*job={driven['job']} .*complete", attempts[1]), attempts
    assert (run / "model.pt").is_file()
    step = int(first.group(1))
    train_log = (results / "logs" / "train" / "shapes-16-factorized.log").read_text()
    assert f"was preempted at step {step}; resuming" in train_log, train_log[-3000:]
    assert f"resumed {run} at step {step}" in train_log
