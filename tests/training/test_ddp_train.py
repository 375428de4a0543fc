"""DDP training under a real torchrun (2 processes, gloo on CPU, one thread each): a signal
that reaches one rank stops all ranks at the same step, rank 0 writes one checkpoint and the
RUN_DIR/.preempted marker, and the resumed run ends with exactly the weights of an
uninterrupted one. Resuming on another world size continues with re-derived RNGs and says so."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from fdiff.training import checkpoint as ckpt
from fdiff.training.trainer import PREEMPTED_MARKER

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
STEPS = 40


def _torchrun(run_yaml, data, out, nproc=2):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
            "--nproc_per_node", str(nproc), "-m", "fdiff", "train", "--config", str(run_yaml),
            "--data", str(data), "--out", str(out)]  # fmt: skip


def _worker_of_rank(parent: int, rank: int) -> int | None:
    """The pid of the torchrun worker (a child of ``parent``) whose environment has RANK=rank."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(proc.name)
    return None


def _weights(path: Path) -> dict:
    return ckpt.load_model(path)[0].state_dict()


def _config(tmp_path, tiny_run_config):
    run_yaml = tmp_path / "run.yaml"
    # no periodic checkpoint before the end: the only one mid-run is the signal's
    run_yaml.write_text(
        tiny_run_config(steps=STEPS, batch_size=4, log_every=1, checkpoint_every=10_000).to_yaml()
    )
    return run_yaml


def test_signal_to_one_rank_stops_all_and_resume_is_exact(tmp_path, shapes16, tiny_run_config):
    run_yaml = _config(tmp_path, tiny_run_config)
    ref = subprocess.run(_torchrun(run_yaml, shapes16, tmp_path / "ref"), env=ENV,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ref.returncode == 0, ref.stderr[-3000:]
    # both ranks logged their half of the global batch
    for rank in (0, 1):
        assert f"rank {rank}/2 (local {rank})" in ref.stderr and "batch [2 x 3 x 16 x 16]" in (
            ref.stderr
        )

    run = tmp_path / "run"
    proc = subprocess.Popen(_torchrun(run_yaml, shapes16, run), env=ENV,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 240
    while not (run / "metrics.csv").exists():
        assert proc.poll() is None and time.time() < deadline, "training did not start"
        time.sleep(0.05)
    rank1 = _worker_of_rank(proc.pid, 1)
    assert rank1 is not None, "no worker with RANK=1 under torchrun"
    os.kill(rank1, signal.SIGTERM)  # one rank only: the other learns it from the vote
    _, err = proc.communicate(timeout=120)
    # torchrun's own exit status says nothing (1 for a failure and a preemption alike): the
    # marker does
    marker = run / PREEMPTED_MARKER
    assert marker.is_file(), err[-3000:]
    step = int(marker.read_text())
    state = ckpt.load(run / "checkpoints" / "last.pt", ckpt.TRAIN_FORMAT)
    assert state["step"] == step and 0 < step < STEPS, (state["step"], step)
    assert state["world_size"] == 2 and len(state["rng_ranks"]) == 2
    assert not torch.equal(state["rng_ranks"][0]["train"], state["rng_ranks"][1]["train"])
    assert f"rank 1: SIGTERM: all 2 ranks stopped after step {step}" in err, err[-3000:]
    assert f"rank 0: another rank's signal: all 2 ranks stopped after step {step}" in err
    assert not (run / "model.pt").exists()
    keep = tmp_path / "stopped"
    shutil.copytree(run, keep)  # for the world-size test below

    done = subprocess.run(_torchrun(run_yaml, shapes16, run), env=ENV, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"rank 1: resumed {run} at step {step}" in done.stderr
    assert not marker.exists()  # a finished run carries no preemption verdict
    want, got = _weights(tmp_path / "ref" / "model.pt"), _weights(run / "model.pt")
    for name, value in want.items():
        assert torch.equal(got[name], value), name
    rows = (run / "metrics.csv").read_text().split()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, STEPS + 1))  # rank 0 alone

    # another world size: one process resumes the 2-process checkpoint, with a warning
    one = subprocess.run([sys.executable, "-m", "fdiff", "train", "--config", str(run_yaml),
                          "--data", str(shapes16), "--out", str(keep)], env=ENV,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    assert "was saved by 2 processes and resumes on 1" in one.stderr
    assert "no longer bit-identical" in one.stderr
    assert ckpt.load(keep / "checkpoints" / "last.pt", ckpt.TRAIN_FORMAT)["step"] == STEPS
