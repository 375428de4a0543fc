"""Crash safety of training: SIGKILL at any moment, a full disk, and the rerun that resumes."""

from __future__ import annotations

import random
import resource
import signal
import subprocess
import time

import torch
from trainproc import ENV, signal_frozen, stop_at_row, train_cmd

from fdiff.training import checkpoint as ckpt


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
        train_cmd(run_yaml, shapes16, tmp_path / "reference"), capture_output=True, env=ENV
    )
    assert ref.returncode == 0, ref.stderr

    run = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(
            train_cmd(run_yaml, shapes16, run), stderr=subprocess.DEVNULL, env=ENV
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
        train_cmd(run_yaml, shapes16, run), capture_output=True, text=True, env=ENV
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
    assert subprocess.run(train_cmd(first, shapes16, run), capture_output=True).returncode == 0
    saved = (run / "checkpoints" / "last.pt").read_bytes()
    (run / "model.pt").unlink()
    more = tmp_path / "more.yaml"
    more.write_text(tiny_run_config(steps=4, checkpoint_every=2).to_yaml())
    limit = len(saved) // 2  # the next checkpoint cannot be written whole
    proc = subprocess.run(
        train_cmd(more, shapes16, run),
        capture_output=True, text=True, preexec_fn=_limit_file_size(limit),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    last_line = proc.stderr.strip().splitlines()[-1]
    assert "could not write the checkpoint" in last_line and "last.pt" in last_line
    assert (run / "checkpoints" / "last.pt").read_bytes() == saved
    assert not list(run.rglob("*.tmp*"))


def test_sigterm_after_the_last_step_still_finishes(tmp_path, shapes16, tiny_run_config):
    """SLURM's time limit right after the last step (during the final checkpoint, the write of
    model.pt or the exit): the run ends complete, exit 0 and model.pt, not killed or failed.
    A retry of a run killed during that final write (its checkpoint at the last step, the
    marker standing) writes model.pt at once, with the weights of the uninterrupted run."""
    from fdiff.training.trainer import PREEMPTED_MARKER

    steps = 6
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(tiny_run_config(steps=steps, checkpoint_every=4, log_every=1).to_yaml())
    run = tmp_path / "run"
    err = tmp_path / "stderr"
    with open(err, "w") as f:
        proc = subprocess.Popen(train_cmd(run_yaml, shapes16, run), stderr=f, env=ENV)
        stop_at_row([proc.pid], run / "metrics.csv", steps)
        where = "model.pt written" if (run / "model.pt").exists() else "before model.pt"
        signal_frozen([proc.pid])
        rc = proc.wait(timeout=120)
    text = err.read_text()
    assert rc == 0, f"stopped {where}: exit {rc}\n{text[-3000:]}"
    assert not (run / PREEMPTED_MARKER).exists()  # a finished run carries no verdict
    assert ckpt.load(run / "checkpoints" / "last.pt", ckpt.TRAIN_FORMAT)["step"] == steps
    want = ckpt.load_model(run / "model.pt")[0].state_dict()
    assert ckpt.load(run / "model.pt", ckpt.MODEL_FORMAT)["step"] == steps
    print(f"signal arrived {where}")

    # the state a kill during the final write leaves: the checkpoint of the last step and the
    # marker (written before model.pt), no model.pt; the retry finishes at once
    (run / "model.pt").unlink()
    (run / PREEMPTED_MARKER).write_text(f"{steps}\n")
    metrics = (run / "metrics.csv").read_text()
    done = subprocess.run(
        train_cmd(run_yaml, shapes16, run), capture_output=True, text=True, env=ENV
    )
    assert done.returncode == 0, done.stderr
    assert f"already trained for {steps} steps" in done.stderr
    assert not (run / PREEMPTED_MARKER).exists()
    assert (run / "metrics.csv").read_text() == metrics  # no step was trained again
    got = ckpt.load_model(run / "model.pt")[0].state_dict()
    for name, value in want.items():
        assert torch.equal(got[name], value), name


def test_sigterm_during_a_periodic_checkpoint_stops_at_that_step(
    tmp_path, shapes16, tiny_run_config
):
    """A signal while the step's periodic checkpoint is written: the write completes (the
    handler only records the signal), the run stops at that step or the next with the marker
    holding the step of the checkpoint on disk, and no second checkpoint of the same step."""
    from fdiff.training.trainer import EXIT_PREEMPTED, PREEMPTED_MARKER

    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(tiny_run_config(steps=40, checkpoint_every=4, log_every=1).to_yaml())
    run = tmp_path / "run"
    proc = subprocess.Popen(
        train_cmd(run_yaml, shapes16, run), stderr=subprocess.PIPE, text=True, env=ENV
    )
    stop_at_row([proc.pid], run / "metrics.csv", 4)
    signal_frozen([proc.pid])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_PREEMPTED, err[-3000:]
    step = int((run / PREEMPTED_MARKER).read_text())
    assert step in (4, 5), err[-3000:]
    assert ckpt.load(run / "checkpoints" / "last.pt", ckpt.TRAIN_FORMAT)["step"] == step
    assert err.count(f"checkpoint: step {step} ->") == 1, err[-3000:]
    assert not (run / "model.pt").exists() and not list(run.rglob(".*.tmp*"))
