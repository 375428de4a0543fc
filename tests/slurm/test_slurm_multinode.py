"""The workflow's own train rule on the real two-node SLURM cluster (tests/slurm/cluster.sh),
submitted by `snakemake --profile slurm` through snakemake-executor-plugin-slurm:

- a 2-node x 2-process torchrun job (world size 4, gloo on CPU, two fake GPUs per node):
  srun starts one torchrun per node, all 4 ranks train on a quarter of the global batch each,
  rank 0 alone writes the run directory;
- the job hits its SLURM time limit mid-run: every process of the step gets SIGTERM, the ranks
  stop at one step, rank 0 writes the checkpoint and RUN_DIR/.preempted; Snakemake's retries
  resubmit the job, which resumes at that step and finishes.

The time limit comes at a step the test chooses, whatever the machine's speed (tests/slurm/
freeze.py): once the run has logged step FREEZE_STEP the test freezes the ranks and lowers the
job's limit to the time it has run; SLURM ends the job at its next check. Every attempt is
submitted with a limit (launch.runtime) that neither a slow start nor the training reaches.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
from freeze import freeze_at, thaw_when_signalled, time_limit_now
from workflow_config import shapes16_config

from fdiff.training import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

STEPS = 200
FREEZE_STEP = 30  # the first attempt is stopped at this step or a few later
CHECKPOINT_EVERY = 100_000  # no periodic checkpoint: a resume can only start from the signal's
TRAIN = dict(steps=STEPS, batch_size=8, checkpoint_every=CHECKPOINT_EVERY, log_every=10,
             device="auto")  # fmt: skip
LAUNCH = dict(nodes=2, gpus_per_node=2, cpus_per_gpu=1, threads=1, mem_mb=1500, runtime=10,
              retries=4, master_port=29533)  # fmt: skip


def _train_jobs() -> list[str]:
    r = subprocess.run(["squeue", "-h", "-o", "%i %k %T"], capture_output=True, text=True)
    return [ln.split()[0] for ln in r.stdout.splitlines() if "rule_train" in ln and "RUNNING" in ln]


def _show_job(job: str) -> str:
    return subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True,
                          text=True).stdout  # fmt: skip


def _watch_jobs(records: dict, stop: threading.Event) -> None:
    """What SLURM itself says about each running training job (scontrol show job)."""
    while not stop.is_set():
        for job in _train_jobs():
            if job not in records and "NodeList=n" in (out := _show_job(job)):
                records[job] = out
        stop.wait(0.5)


def _drive_at_step(run: Path, records: dict, driven: dict, stop: threading.Event, act) -> None:
    """The first attempt: frozen at FREEZE_STEP, then `act(job)` makes SLURM stop it (a lowered
    time limit, a preempting job); what it returns goes into `driven`."""
    try:
        while not records and not stop.is_set():
            stop.wait(0.2)
        if stop.is_set():
            return
        job = next(iter(records))
        pids, step = freeze_at(run, FREEZE_STEP, ranks=4, timeout=600, stop=stop)
        driven.update(job=job, frozen=len(pids), logged=step, **act(job))
        t = time.time()
        driven["thawed"] = thaw_when_signalled(pids, timeout=180)
        driven["signal_after_s"] = round(time.time() - t, 1)
    except Exception as e:  # reported by the test
        driven["error"] = repr(e)


def run_two_node_training(tmp_path: Path, act):
    """The train rule of a 2-node x 2-rank run through `snakemake --profile slurm`, stopped
    once at FREEZE_STEP by `act`: (snakemake's exit status, its log, the SLURM records of the
    training jobs, what the driver did, the results folder, the run directory)."""
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
        threading.Thread(
            target=_drive_at_step, args=(run, records, driven, stop, act), daemon=True
        ),
    ]
    for th in threads:
        th.start()
    with open(tmp_path / "snakemake.log", "w") as log:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    stop.set()
    for th in threads:
        th.join()
    out = (tmp_path / "snakemake.log").read_text()
    return proc.returncode, out, records, driven, results, run


def test_two_nodes_four_ranks_time_limit_resume(slurm_cluster, tmp_path):
    t0 = time.time()
    rc, out, records, driven, results, run = run_two_node_training(
        tmp_path, lambda job: {"limit": time_limit_now(job)}
    )
    print(f"two-node SLURM test: {time.time() - t0:.0f} s wall; time limit: {driven}")
    assert "error" not in driven, driven
    assert rc == 0, out[-4000:]

    # What SLURM ran (not Snakemake's log): 2 nodes, 2 GPUs on each, partition gpu, the limit as
    # submitted; the first attempt ended by its time limit, as SLURM records it
    assert len(records) == 2, records  # the first attempt and its resubmission
    for info in records.values():
        assert "NumNodes=2" in info and "NodeList=n[1-2]" in info, info
        # GPUs per node (--gres=gpu:2), as torchrun starts 2 ranks on each node
        assert "TresPerNode=gres:gpu:2" in info and "Partition=gpu" in info, info
        assert "TresPerJob=" not in info, info
        assert "TimeLimit=00:10:00" in info, info  # as submitted (runtime: 10)
    assert driven["frozen"] == 4, driven  # the 4 ranks
    ended = _show_job(driven["job"])
    assert "JobState=TIMEOUT" in ended and "Reason=TimeLimit" in ended, ended

    train_log = (results / "logs" / "train" / "shapes-16-factorized.log").read_text()
    attempts = (run / "attempts.log").read_text().splitlines()
    print("attempts.log:\n" + "\n".join(attempts))
    # the first attempt hit the time limit: preempted, with the marker's step ...
    first = re.search(r"attempt=1 .* preempted step=(\d+)", attempts[0])
    assert first, attempts
    step = int(first.group(1))
    # at the test's step (the ranks were frozen there), far from the end, the signal's checkpoint
    assert FREEZE_STEP <= driven["logged"] <= step < STEPS // 2, (driven, step)
    assert step % CHECKPOINT_EVERY != 0
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
        "tensorboard",
    ]  # fmt: skip
    # one TensorBoard event file per attempt: rank 0's
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == len(attempts)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]
    model = ckpt.load(run / "model.pt", ckpt.MODEL_FORMAT)
    assert model["step"] == STEPS
