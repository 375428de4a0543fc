"""benchmarks/gpu.sh --cpu-smoke: every section of the prepared GPU run, for real at tiny sizes
on the CPU, so that the script cannot rot between the rare GPU sessions."""

from __future__ import annotations

import csv
import math
import os
import subprocess
from pathlib import Path

import pytest

from fdiff.bench.gpu import COLUMNS, SECTIONS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_script_cpu_smoke(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "GPU_WORK": str(tmp_path / "work"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    cmd = ["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--cpu-smoke"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / "gpu.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        rows = list(reader)
    assert {r["section"] for r in rows} == set(SECTIONS)
    assert not [r for r in rows if r["status"] == "failed"]
    for r in rows:  # every row carries the run's device and versions
        assert r["device_name"].startswith("CPU") and r["torch"] and r["commit"] and r["date"]
    # what only CUDA has is skipped, with the reason
    skipped = {(r["section"], r["name"]): r["note"] for r in rows if r["status"] == "skipped"}
    cuda_only = [("train20", "fused_adam_bf16"), ("train20", "compiled"), ("max_batch", "paper64"),
                 ("speed", "tiny/train/shared"), ("syncs", "loop")]  # fmt: skip
    for key in cuda_only:
        assert skipped.get(key), (key, skipped)

    def value(section, name, metric):
        (r,) = [
            r for r in rows if (r["section"], r["name"], r["metric"]) == (section, name, metric)
        ]
        return float(r["value"])

    assert value("forward", "factorized", "eps_max_abs_diff") == 0.0  # CPU against CPU
    assert value("forward", "factorized", "masks_max_abs_diff") == 0.0
    assert math.isfinite(value("train20", "eager", "final_loss"))
    assert (
        value("train20", "segment", "written") == 1 and value("train20", "sample", "written") == 1
    )
    assert value("speed", "tiny/train/shared", "time_over_flop") > 0
    assert value("speed", "tiny/sample/ddim-100", "speedup") > 1
    assert value("data", "loader", "images_per_s") > 0
    assert value("syncs", "train_step", "syncs_per_step") == 0  # the device path reads nothing
    for level in ("medium", "hard"):
        for weights in ("raw", "ema"):
            assert 0 <= value(f"emergence_{level}", f"{level}/{weights}", "iou_fixed") <= 1
    # what comes back from the device tool's $OUT: at most 8 files, the scratch elsewhere
    back = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    levels = [f"emergence-{level}.{ext}" for level in ("hard", "medium") for ext in ("csv", "pt")]
    assert back == ["bench-demo.csv", "bench-tiny.csv", *levels, "gpu.csv", "gpu.log"]
    assert (tmp_path / "work" / "train20" / "masks.h5").is_file()
