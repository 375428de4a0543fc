"""Watching a run: progress lines in a log file, TensorBoard events across a preemption, and
``fdiff status`` on the run directory (issue 23)."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys

import pytest
import torch
from trainproc import ENV, signal_frozen, stop_at_row, train_cmd

from fdiff.cli import main as fdiff_main
from fdiff.errors import FdiffError
from fdiff.progress import LineProgress, every
from fdiff.training import rundir

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

SCALARS = {"train/loss", "train/lr", "train/grad_norm", "train/images_per_s"}
DATED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d fdiff\.progress INFO train ")


def _events(run):
    acc = EventAccumulator(str(run / rundir.TENSORBOARD), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def _status(capsys, results) -> dict:
    capsys.readouterr()
    assert fdiff_main(["status", str(results), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_preempted_run_has_one_continuous_tensorboard_run_and_its_status(
    tmp_path, shapes16, tiny_run_config, capsys
):
    """SIGTERM to a real ``fdiff train`` mid-run, the attempt recorded as the train rule records
    it, the rerun resumes and finishes: TensorBoard has every logged step once per scalar and the
    pictures; ``fdiff status --json`` has the step, attempts and preemptions; the attempts' logs
    (stderr is a file) are dated progress lines without carriage returns."""
    steps, results = 30, tmp_path / "results"
    run = results / "shapes-16" / "factorized"
    run_yaml = tmp_path / "run.yaml"
    cfg = tiny_run_config(steps=steps, log_every=1, checkpoint_every=100_000, sample_every=10,
                          sample_num=4)  # fmt: skip
    run_yaml.write_text(cfg.to_yaml())
    env = {**ENV, "FDIFF_PROGRESS_EVERY": "0"}
    host = socket.gethostname()

    log1 = tmp_path / "attempt-1.log"
    with open(log1, "w") as f:
        proc = subprocess.Popen(train_cmd(run_yaml, shapes16, run), stderr=f, env=env)
        stop_at_row([proc.pid], run / rundir.METRICS, 3)
        signal_frozen([proc.pid])
        assert proc.wait(timeout=120) == rundir.EXIT_PREEMPTED, log1.read_text()[-2000:]
    stopped = rundir.read_preempted(run)
    assert stopped is not None and 3 <= stopped < steps
    rundir.append_attempt(run, rundir.Attempt(1, host, "none", "preempted", str(stopped)))

    s = _status(capsys, results)
    (r,) = s["runs"]
    assert (r["experiment"], r["arch"], r["state"]) == ("shapes-16", "factorized", "preempted")
    assert (r["step"], r["steps"], r["attempts"], r["preemptions"]) == (stopped, steps, 1, 1)
    assert r["last_attempt"] == f"preempted step={stopped}" and not r["model"]
    assert r["eta_s"] > 0 and r["loss"] is not None

    log2 = tmp_path / "attempt-2.log"
    with open(log2, "w") as f:
        done = subprocess.run(train_cmd(run_yaml, shapes16, run), stderr=f, env=env)
    assert done.returncode == 0, log2.read_text()[-2000:]
    rundir.append_attempt(run, rundir.Attempt(2, host, "none", "complete", "done"))

    acc = _events(run)
    tags = acc.Tags()
    assert set(tags["scalars"]) == SCALARS  # one series each (no GPU here: no gpu_mem_gib)
    for tag in SCALARS:
        assert [e.step for e in acc.Scalars(tag)] == list(range(1, steps + 1)), tag
    loss = [float(row["loss"]) for row in rundir.read_metrics(run)]
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx(loss, rel=1e-5)
    assert len(list((run / rundir.TENSORBOARD).glob("events.out.tfevents.*"))) == 2
    for tag, rows in (("samples", 3), ("segmentation", 3)):
        images = acc.Images(tag)
        assert [e.step for e in images] == [10, 20, 30], tag
        # rows of 16 px pictures with 2 px padding: images, overlays, region maps
        assert images[-1].height == rows * 18 + 2, tag
    assert acc.Images("segmentation")[-1].width == 8 * 18 + 2  # 8 fixed preview images

    s = _status(capsys, results)
    (r,) = s["runs"]
    assert (r["state"], r["step"], r["attempts"], r["preemptions"]) == ("done", steps, 2, 1)
    assert r["last_attempt"] == "complete step=done" and r["model"] and r["eta_s"] is None

    for path in (log1, log2):
        text = path.read_text()
        assert "\r" not in text
        lines = [ln for ln in text.splitlines() if "fdiff.progress" in ln]
        assert lines and all(DATED.match(ln) for ln in lines), text[-2000:]
    last = [ln for ln in log1.read_text().splitlines() if "fdiff.progress" in ln][-1]
    assert f"{stopped}/{steps} steps" in last and "loss " in last and "images/s " in last
    assert "s/step" in last and "ETA " in last


def test_tensorboard_and_previews_do_not_change_training(tmp_path, shapes16, tiny_run_config):
    """TensorBoard's scalars, the sample grids and the preview segmentation draw from their own
    generators: the weights equal those of a run without them."""
    from fdiff.data.loader import H5ImageDataset
    from fdiff.training.trainer import Trainer

    torch.set_num_threads(1)
    data = H5ImageDataset(shapes16, "train", uint8=True)
    base = tiny_run_config(steps=4, log_every=1)
    quiet = tiny_run_config(steps=4, log_every=1, tensorboard=False)
    watched = tiny_run_config(steps=4, log_every=1, sample_every=2, sample_num=2)
    weights = []
    for name, cfg in (("quiet", quiet), ("watched", watched), ("default", base)):
        Trainer.build(cfg, data, tmp_path / name).run()
        weights.append(torch.load(tmp_path / name / "model.pt", weights_only=True)["state_dict"])
    assert (tmp_path / "watched" / rundir.TENSORBOARD).is_dir()
    assert not (tmp_path / "quiet" / rundir.TENSORBOARD).exists()
    for other in weights[1:]:
        for name, value in weights[0].items():
            assert torch.equal(other[name], value), name


def test_tensorboard_key_is_validated(tiny_run_config):
    with pytest.raises(FdiffError, match="train.tensorboard: expected true or false"):
        tiny_run_config(tensorboard="yes")


def test_a_resumed_board_drops_what_the_killed_attempt_logged_after_its_checkpoint(tmp_path):
    """A SIGKILL between two checkpoints leaves events past the checkpoint; the attempt that
    resumes at the checkpoint's step purges them: each step once, the later value."""
    from fdiff.training.tblog import RunBoard

    first = RunBoard(tmp_path, 0)
    for step in range(1, 9):
        first.scalars(step, {"loss": 1.0})
    first.close()
    second = RunBoard(tmp_path, 4)  # the checkpoint was at step 4
    for step in range(5, 11):
        second.scalars(step, {"loss": 2.0})
    second.close()
    values = [(e.step, e.value) for e in _events(tmp_path).Scalars("train/loss")]
    assert values == [(s, 1.0) for s in range(1, 5)] + [(s, 2.0) for s in range(5, 11)]
    RunBoard(tmp_path, 0).close()  # a run started afresh has no earlier curve
    assert _events(tmp_path).Tags()["scalars"] == []


def test_line_progress_reports_rate_eta_and_fields(caplog, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("fdiff.progress.time.time", lambda: now[0])
    with caplog.at_level(logging.INFO, logger="fdiff.progress"):
        bar = LineProgress(total=100, desc="train x", unit="step", initial=50, every_s=5)
        bar.set_postfix(loss="0.1234")
        now[0] += 10
        bar.update(10)  # 10 steps in 10 s
        bar.close()  # nothing new since the line: no second line
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("train x: 60/100 steps (60.0%) | loss 0.1234 | 1 step/s, 1 s/step")
    assert "elapsed 00:00:10" in line and "ETA 00:00:40 (" in line


def test_progress_interval_from_the_environment(monkeypatch):
    monkeypatch.setenv("FDIFF_PROGRESS_EVERY", "15")
    assert every() == 15.0
    monkeypatch.setenv("FDIFF_PROGRESS_EVERY", "soon")
    with pytest.raises(FdiffError, match=r"\$FDIFF_PROGRESS_EVERY = 'soon': expected"):
        every()


def test_status_reads_files_being_written_without_torch(tmp_path):
    """Half-written lines (training appending a row, the rule its verdict) are not read; the
    verb imports no torch."""
    run = tmp_path / "flowers-64" / "ddpm"
    run.mkdir(parents=True)
    (run / "run.yaml").write_text(json.dumps({"train": {"steps": 1000, "batch_size": 8}}))
    (run / rundir.METRICS).write_text(
        "step,loss,lr,images_per_s,elapsed_s\n100,0.5,0.0001,80,10\n200,0.25,0.0001,40,20\n30"
    )
    rundir.append_attempt(run, rundir.Attempt(1, "n1", "7", "preempted", "200"))
    with open(run / rundir.ATTEMPTS, "a") as f:
        f.write("attempt=2 host=n1 job=8 fail")
    (tmp_path / "flowers-64" / "factorized").mkdir()
    (tmp_path / "flowers-64" / "factorized" / "run.yaml").write_text("{}")
    # a failed run: its verdict and the error line of its kept attempt log
    failed = tmp_path / "cub-128" / "unshared"
    failed.mkdir(parents=True)
    rundir.append_attempt(failed, rundir.Attempt(1, "n2", "9", "failed", "exit-2"))
    (failed / rundir.FAILED).write_text("2\n")
    logs = tmp_path / "logs" / "train"
    logs.mkdir(parents=True)
    (logs / "cub-128-unshared.log.attempt-1").write_text(
        "fdiff train: error: cub.h5: images are 64 px but model.resolution is 128\n"
        "train: attempt 1: on n2 (SLURM job 9)\n"
    )
    code = (
        "import json, sys; from fdiff.cli import main; main(['status', sys.argv[1], '--json']);"
        "assert 'torch' not in sys.modules, 'fdiff status imported torch'"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    failed_run, ddpm, fact = json.loads(out.stdout)["runs"]
    assert (failed_run["state"], failed_run["last_attempt"]) == ("failed", "failed step=exit-2")
    got = (ddpm["arch"], ddpm["state"], ddpm["step"], ddpm["loss"])
    assert got == ("ddpm", "started", 200, 0.25)
    assert (ddpm["attempts"], ddpm["preemptions"]) == (1, 1)
    assert ddpm["eta_s"] == pytest.approx(800 * 8 / 40)
    assert (fact["arch"], fact["state"], fact["step"]) == ("factorized", "not started", None)
    table = subprocess.run([sys.executable, "-m", "fdiff", "status", str(tmp_path)],
                           capture_output=True, text=True, env=env)  # fmt: skip
    assert table.returncode == 0, table.stderr
    row = r"flowers-64 +ddpm +started +200/1000 +0\.25 +40 +00:02:40 +1 +1 +preempted step=200"
    assert re.search(row, table.stdout), table.stdout
    assert "3 runs (1 failed, 1 not started, 1 started)" in table.stdout
    assert "failed: cub-128/unshared: fdiff train: error: cub.h5: images are 64 px" in table.stdout


def test_without_tensorboard_training_says_so_once(tmp_path, monkeypatch, caplog):
    from fdiff.training import tblog

    monkeypatch.setattr(tblog, "available", lambda: False)
    with caplog.at_level(logging.INFO, logger="fdiff.training.tblog"):
        assert tblog.open_board(tmp_path, True, 0) is None
    assert "tensorboard is not installed" in caplog.text
    assert tblog.open_board(tmp_path, False, 0) is None
    assert not (tmp_path / rundir.TENSORBOARD).exists()
