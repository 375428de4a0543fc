"""The stop vote between logging steps under a real torchrun (2 processes, gloo): with a logging
interval far longer than the run, a signal to one rank still stops both at one step within
seconds (the vote at a step agreed about VOTE_EVERY_S ahead), with the checkpoint and marker."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from test_ddp_train import ENV, _torchrun, _worker_of_rank

from fdiff.training import checkpoint as ckpt
from fdiff.training.trainer import PREEMPTED_MARKER


@pytest.mark.slow
def test_a_signal_between_logging_steps_stops_every_rank(tmp_path, shapes16, tiny_run_config):
    run_yaml = tmp_path / "run.yaml"
    cfg = tiny_run_config(steps=100_000, batch_size=4, log_every=50_000, checkpoint_every=100_000)
    run_yaml.write_text(cfg.to_yaml())
    run = tmp_path / "run"
    proc = subprocess.Popen(_torchrun(run_yaml, shapes16, run), env=ENV,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 240
    rank1 = None
    while rank1 is None:
        assert proc.poll() is None and time.time() < deadline, "training did not start"
        rank1 = _worker_of_rank(proc.pid, 1)
        time.sleep(0.2)
    time.sleep(15)  # well into training: no metrics row, no vote at a logging step
    assert not (run / "metrics.csv").exists()
    os.kill(rank1, signal.SIGTERM)
    t0 = time.time()
    _, err = proc.communicate(timeout=120)
    took = time.time() - t0
    step = int((run / PREEMPTED_MARKER).read_text())
    assert ckpt.load(run / "checkpoints" / "last.pt", ckpt.TRAIN_FORMAT)["step"] == step
    assert f"rank 1: SIGTERM: all 2 ranks stopped after step {step}" in err, err[-3000:]
    assert f"rank 0: another rank's signal: all 2 ranks stopped after step {step}" in err
    print(f"stopped at step {step}, {took:.1f} s after the signal")
