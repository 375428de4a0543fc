"""The workflow's own train rule on the real two-node SLURM cluster (tests/slurm/cluster.sh),
submitted by `snakemake --profile slurm` through snakemake-executor-plugin-slurm:

- a 2-node x 2-process torchrun job (world size 4, gloo on CPU, two fake GPUs per node):
  srun starts one torchrun per node, all 4 ranks train on a quarter of the global batch each,
  rank 0 alone writes the run directory;
- the job hits its SLURM time limit (runtime: 1 minute) mid-run: every process of the step
  gets SIGTERM, the ranks stop at one step, rank 0 writes the checkpoint and RUN_DIR/.preempted;
  Snakemake's retries resubmit the job, which resumes at that step and finishes.

To keep the test to two attempts whatever the machine's speed, the resubmitted job's limit is
raised to 10 minutes once it runs (`scontrol update`); the first attempt keeps its 1 minute,
and STEPS is more than one attempt can do (training starts some 30-60 s into the job here).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from workflow_config import shapes16_config

from fdiff import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

STEPS = 500  # 4 steps/s measured with 4 ranks on a quiet 2-core machine: not done in 1 attempt
CHECKPOINT_EVERY = 100_000  # no periodic checkpoint: a resume can only start from the signal's
TRAIN = dict(steps=STEPS, batch_size=8, checkpoint_every=CHECKPOINT_EVERY, log_every=10,
             device="auto")  # fmt: skip
LAUNCH = dict(nodes=2, gpus_per_node=2, cpus_per_gpu=1, threads=1, mem_mb=1500, runtime=1,
              retries=4, master_port=29533)  # fmt: skip


def _train_jobs() -> list[str]:
    r = subprocess.run(["squeue", "-h", "-o", "%i %k %T"], capture_output=True, text=True)
    return [ln.split()[0] for ln in r.stdout.splitlines() if "rule_train" in ln and "RUNNING" in ln]


def _watch_jobs(records: dict, stop: threading.Event) -> None:
    """What SLURM itself says about each running training job (scontrol show job)."""
    while not stop.is_set():
        for job in _train_jobs():
            if job not in records:
                out = subprocess.run(["scontrol", "show", "job", "-o", job],
                                     capture_output=True, text=True).stdout  # fmt: skip
                if "NodeList=n" in out:
                    records[job] = out
                    if len(records) > 1:  # a resubmission: let it finish
                        subprocess.run(["scontrol", "update", f"JobId={job}", "TimeLimit=10"])
        stop.wait(1.0)


def test_two_nodes_four_ranks_time_limit_resume(slurm_cluster, tmp_path):
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
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_jobs, args=(records, stop), daemon=True)
    watcher.start()
    with open(tmp_path / "snakemake.log", "w") as log:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    stop.set()
    watcher.join()
    out = (tmp_path / "snakemake.log").read_text()
    print(f"two-node SLURM test: {time.time() - t0:.0f} s wall")
    assert proc.returncode == 0, out[-4000:]

    # What SLURM ran: 2 nodes, 4 GPUs, partition gpu, the 1-minute limit (not Snakemake's log)
    assert len(records) == 2, records  # the first attempt and its resubmission
    for info in records.values():
        assert "NumNodes=2" in info and "NodeList=n[1-2]" in info, info
        assert "TresPerJob=gres:gpu:4" in info and "Partition=gpu" in info, info
        assert "TimeLimit=00:01:00" in info, info  # as submitted (runtime: 1)

    train_log = (results / "logs" / "train" / "shapes-16-factorized.log").read_text()
    attempts = (run / "attempts.log").read_text().splitlines()
    print("attempts.log:\n" + "\n".join(attempts))
    # the first attempt hit the time limit: preempted, with the marker's step ...
    first = re.search(r"attempt=1 .* preempted step=(\d+)", attempts[0])
    assert first, attempts
    step = int(first.group(1))
    assert 0 < step < STEPS and step % CHECKPOINT_EVERY != 0  # the signal's checkpoint
    # ... every later attempt resumed where the previous one's signal checkpoint left it
    verdicts = [re.search(r"(preempted|complete|failed)", a).group(1) for a in attempts]
    assert verdicts[-1] == "complete" and "failed" not in verdicts, attempts
    assert len(attempts) == len(records)
    last_preempted = int(re.findall(r"preempted step=(\d+)", "\n".join(attempts))[-1])
    assert f"was preempted at step {last_preempted}; resuming" in train_log, train_log[-3000:]
    assert f"resumed {run} at step {last_preempted}" in train_log

    # all 4 ranks took part in the last attempt, two per node, each on a quarter of the batch
    ranks = re.findall(
        r"rank (\d)/4 \(local (\d)\) on (n\d): step \d+, batch \[(\d+) x 3 x 16 x 16\] of "
        r"global 8, device cpu, CUDA_VISIBLE_DEVICES=(\S+)",
        train_log,
    )
    assert sorted(r[0] for r in ranks) == ["0", "1", "2", "3"], train_log[-4000:]
    assert {(r[0], r[2]) for r in ranks} in (
        {("0", "n1"), ("1", "n1"), ("2", "n2"), ("3", "n2")},
        {("0", "n2"), ("1", "n2"), ("2", "n1"), ("3", "n1")},
    )
    assert all(r[3] == "2" for r in ranks)  # global batch 8 split over 4 ranks
    assert all(r[4] == "0,1" for r in ranks)  # each node's task saw its node's two GPUs

    # rank 0 alone wrote: one metrics row per logged step, checkpoint lines of rank 0 only
    rows = (run / "metrics.csv").read_text().split()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(10, STEPS + 1, 10))
    written = re.findall(r"rank (\d+): checkpoint: step", train_log)
    assert written and set(written) == {"0"}
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "attempts.log", "checkpoints", "config.yaml", "metrics.csv", "model.pt", "run.yaml",
    ]  # fmt: skip
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]
    model = ckpt.load(run / "model.pt", ckpt.MODEL_FORMAT)
    assert model["step"] == STEPS
