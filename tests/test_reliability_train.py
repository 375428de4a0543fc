"""Crash safety of training: SIGKILL at any moment, a full disk, and the rerun that resumes."""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time

import torch

from fdiff import checkpoint as ckpt

# bit-exact comparisons need the same deterministic kernels in every process: one thread
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _train_cmd(run_yaml, data, out):
    return [sys.executable, "-m", "fdiff", "train", "--config", str(run_yaml),
            "--data", str(data), "--out", str(out)]  # fmt: skip


def test_sigkill_at_random_points_then_resume_matches_uninterrupted(
    tmp_path, shapes16, tiny_run_config
):
    """Kill a CPU training run at several random moments; each rerun resumes from the last
    checkpoint; the final weights equal those of a run that was never interrupted."""
    steps = 12
    cfg = tiny_run_config(steps=steps, checkpoint_every=2, log_every=1)
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(cfg.to_yaml())
    ref = subprocess.run(
        _train_cmd(run_yaml, shapes16, tmp_path / "reference"), capture_output=True, env=ENV
    )
    assert ref.returncode == 0, ref.stderr

    run = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(
            _train_cmd(run_yaml, shapes16, run), stderr=subprocess.DEVNULL, env=ENV
        )
        # wait until training is under way, then kill at a random moment (mid-step, mid-save)
        deadline = time.time() + 120
        while not (run / "metrics.csv").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += proc.returncode == -signal.SIGKILL
        # a kill can leave a temporary file behind, never a torn checkpoint under its real name
        if (run / "checkpoints" / "last.pt").exists():
            ckpt.load(run / "checkpoints" / "last.pt", ckpt.TRAIN_FORMAT)
    assert kills >= 1
    done = subprocess.run(
        _train_cmd(run_yaml, shapes16, run), capture_output=True, text=True, env=ENV
    )
    assert done.returncode == 0, done.stderr
    assert not list(run.rglob(".*.tmp*"))  # the resumed run swept interrupted writes away
    final = ckpt.load_model(run / "model.pt")[0].state_dict()
    want = ckpt.load_model(tmp_path / "reference" / "model.pt")[0].state_dict()
    for name, value in want.items():
        assert torch.equal(final[name], value), name
    steps_logged = [int(r.split(",")[0]) for r in (run / "metrics.csv").read_text().split()[1:]]
    assert steps_logged == list(range(1, steps + 1))


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(
    tmp_path, shapes16, tiny_run_config
):
    """RLIMIT_FSIZE makes writes past a size fail with EFBIG, as a full disk fails them."""
    run = tmp_path / "run"
    first = tmp_path / "first.yaml"
    first.write_text(tiny_run_config(steps=2, checkpoint_every=2).to_yaml())
    assert subprocess.run(_train_cmd(first, shapes16, run), capture_output=True).returncode == 0
    saved = (run / "checkpoints" / "last.pt").read_bytes()
    (run / "model.pt").unlink()
    more = tmp_path / "more.yaml"
    more.write_text(tiny_run_config(steps=4, checkpoint_every=2).to_yaml())
    limit = len(saved) // 2  # the next checkpoint cannot be written whole
    proc = subprocess.run(
        _train_cmd(more, shapes16, run),
        capture_output=True, text=True, preexec_fn=_limit_file_size(limit),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    last_line = proc.stderr.strip().splitlines()[-1]
    assert "could not write the checkpoint" in last_line and "last.pt" in last_line
    assert (run / "checkpoints" / "last.pt").read_bytes() == saved
    assert not list(run.rglob("*.tmp*"))
