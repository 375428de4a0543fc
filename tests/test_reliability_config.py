"""Bad configs fail with one line naming the key and what was expected, and write nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("yaml_text", "culprit"),
    [
        ("model: {preset: tiny}\ntrain: {steps: 2, batchsize: 4}\n", "'batchsize'"),
        ("model: {preset: tiny, num_regions: 1}\n", "model.num_regions = 1"),
        ("model: {preset: tiny, resolution: 15}\n", "model.resolution = 15"),
        ("model: {preset: tinny}\n", "unknown preset 'tinny'"),
        ("model: {preset: tiny}\ntrain: {steps: -5}\n", "train.steps = -5"),
        ("model: {preset: tiny}\ntrain: {lr: fast}\n", "train.lr: expected a number"),
        ("model: {preset: tiny}\nmodle: {}\n", "unknown key 'modle'"),
        ("model: [tiny]\n", "model: expected a mapping"),
        ("", "empty; expected a mapping"),
        ("- tiny\n", "a list; expected a mapping"),
        ("model: {preset: tiny\n", "not valid YAML"),
        # the data are 16 px; a 32 px model cannot train on them
        ("model: {preset: tiny, resolution: 32}\ntrain: {steps: 1}\n", "images are 16 px"),
    ],
)
def test_bad_run_config_one_line_error(tmp_path, shapes16, yaml_text, culprit):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml_text)
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "fdiff", "train", "--config", str(cfg), "--data", str(shapes16),
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert culprit in lines[0]
    assert not out.exists()
