"""The workflow through `snakemake --profile slurm` on the real SLURM test cluster: a one-node
GPU-resource training job (fake GPU, CPU fallback) is cancelled mid-run, resubmitted by
Snakemake's retries and resumed from its checkpoint; a GPU-resource segmentation job follows."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from workflow_config import shapes16_config

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def squeue_train_jobs() -> list[str]:
    r = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True)
    return [line.split()[0] for line in r.stdout.splitlines() if "rule_train" in line]


def test_profile_slurm_gpu_job_killed_and_resumed(slurm_cluster, tmp_path):
    results = tmp_path / "r"
    cfg = tmp_path / "config.yaml"
    train = dict(steps=150, batch_size=2, checkpoint_every=5, log_every=5, device="auto")
    launch = dict(nodes=1, gpus_per_node=1, cpus_per_gpu=1, threads=1, mem_mb=1500, runtime=10)
    cfg.write_text(shapes16_config(results, gpu=1, train=train, launch=launch))
    # `--profile slurm` as a user runs it: the profile installed under the XDG config dir.
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    subprocess.run(["bash", str(REPO / "workflow/profiles/install.sh")], env=env, check=True)
    run = results / "shapes-16" / "factorized"
    targets = [str(run / "model.pt"), str(run / "seg" / "shapes-per_image.csv")]
    cmd = ["timeout", "-s", "INT", "840", "snakemake", *targets, "--profile", "slurm",
           "--profile", str(HERE / "profile"), "--configfile", str(cfg)]  # fmt: skip
    log = open(tmp_path / "snakemake.log", "w")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Wait for the training job to write a checkpoint, then cancel it (as a time limit or
        # a preemption would).
        deadline = time.time() + 240
        ckpt = run / "checkpoints" / "last.pt"
        while not ckpt.exists():
            assert proc.poll() is None, (tmp_path / "snakemake.log").read_text()[-3000:]
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(1)
        jobs = squeue_train_jobs()
        assert jobs, "the training job is not in squeue"
        # what SLURM itself gave the job: one (fake) GPU on the GPU partition
        info = subprocess.run(["scontrol", "show", "job", "-o", *jobs], capture_output=True,
                              text=True).stdout  # fmt: skip
        subprocess.run(["scancel", *jobs], check=True)
        rc = proc.wait(timeout=840)
    finally:
        if proc.poll() is None:
            proc.send_signal(2)
            proc.wait(timeout=60)
        log.close()
    out = (tmp_path / "snakemake.log").read_text()
    assert rc == 0, out[-4000:]
    assert (run / "model.pt").stat().st_size > 0
    assert (run / "seg" / "shapes-per_image.csv").exists()
    assert "TresPerJob=gres:gpu:1" in info and "Partition=gpu" in info, info
    # Snakemake resubmitted the cancelled job (its log holds the last attempt only) ...
    train_log = (results / "logs" / "train" / "shapes-16-factorized.log").read_text()
    assert "train: attempt 2" in train_log, train_log[-3000:]
    # ... and the second attempt resumed from the checkpoint instead of starting over.
    assert "resumed" in train_log, train_log[-3000:]
    assert "CUDA_VISIBLE_DEVICES=0" in train_log  # the job's environment had the GPU
    attempts = (run / "attempts.log").read_text().splitlines()
    assert "preempted step=" in attempts[0] and attempts[-1].endswith("complete step=done")
