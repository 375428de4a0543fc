"""Preemption as SLURM does it, on the real two-node cluster in REQUEUE mode
(tests/slurm/cluster.sh with FDIFF_SLURM_PREEMPT=REQUEUE: PreemptType=preempt/partition_prio,
`gpu` preemptible, `high` not): a 2-node x 2-rank training submitted by `snakemake --profile
slurm` is preempted by a job on `high` at a step the test chooses (tests/slurm/freeze.py),
checkpoints on the signal, is requeued by SLURM as the same job (Snakemake's attempt stays 1),
resumes from that checkpoint and finishes; attempts.log counts the preemption.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from test_slurm_multinode import FREEZE_STEP, _show_job, run_two_node_training

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _preempt(job: str) -> dict:
    """A whole-cluster job on `high`: SLURM preempts the training to start it."""
    cmd = ["sbatch", "--parsable", "-p", "high", "-N2", "--exclusive", "-t", "1",
           "-o", "/dev/null", "--wrap", "sleep 5"]  # fmt: skip
    high = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    return {"high": high}


@pytest.mark.parametrize("preempt_cluster", ["REQUEUE"], indirect=True)
def test_two_nodes_preempted_requeued_resumed(preempt_cluster, tmp_path):
    t0 = time.time()
    rc, out, records, driven, results, run = run_two_node_training(tmp_path, _preempt)
    print(f"REQUEUE preemption test: {time.time() - t0:.0f} s wall; driven: {driven}")
    assert "error" not in driven, driven
    assert rc == 0, out[-4000:]

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
