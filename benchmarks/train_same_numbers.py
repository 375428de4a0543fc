"""Same numbers before and after a refactoring of training: a fingerprint of real runs.

Runs ``fdiff train`` on one thread on the demo's data (textured shapes, 16 px, the demo preset)
three ways: 30 steps straight; 20 steps then resumed to 30 (``--steps`` changes only the
length, so the second process resumes from the first's checkpoint); and the DDPM arch for 10
steps. Sample grids, previews and TensorBoard are on, as in the demo. ``record REF`` saves every
tensor of model.pt and checkpoints/last.pt (model, EMA, Adam moments, every RNG state) and
metrics.csv's losses; ``check REF`` runs the same and compares each tensor with torch.equal and
each loss exactly, printing the first difference::

    PYTHONPATH=$PWD python3 benchmarks/train_same_numbers.py record /tmp/before.pt
    # ... change the code ...
    PYTHONPATH=$PWD python3 benchmarks/train_same_numbers.py check /tmp/before.pt

Bit-identity holds on one machine and one torch build (CPU float reductions depend on both).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

RUN_YAML = """model: {preset: demo, num_regions: 3, resolution: 16}
diffusion: {timesteps: 1000}
train: {steps: 30, batch_size: 16, lr: 5.0e-4, ema_rate: 0.999, checkpoint_every: 10,
        log_every: 5, sample_every: 15, sample_num: 4, seed: 3, device: cpu}
"""
RUNS = {  # name -> the --steps of each process in turn, and the arch
    "straight": ([30], "factorized"),
    "resumed": ([20, 30], "factorized"),
    "ddpm": ([10], "ddpm"),
}


def _fdiff(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "fdiff", *args], check=True, env=env)


def _tensors(obj, prefix: str, out: dict) -> None:
    """Every tensor and number of a (nested) state dict, under a dotted key."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _tensors(v, f"{prefix}.{k}", out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _tensors(v, f"{prefix}.{i}", out)
    elif isinstance(obj, torch.Tensor):
        out[prefix] = obj.detach().cpu().clone()
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = obj


def fingerprint(work: Path) -> dict:
    data = work / "shapes.h5"
    _fdiff("shapes", "--res", "16", "--out", str(data), "--seed", "0",
           "--difficulty", "textured_fg", "--num-train", "64", "--num-val", "8",
           "--num-test", "8")  # fmt: skip
    config = work / "run.yaml"
    config.write_text(RUN_YAML)
    found: dict = {}
    for name, (lengths, arch) in RUNS.items():
        out = work / name
        for steps in lengths:
            _fdiff("train", "--config", str(config), "--data", str(data), "--out", str(out),
                   "--arch", arch, "--steps", str(steps))  # fmt: skip
        for f in ("model.pt", "checkpoints/last.pt"):
            _tensors(torch.load(out / f, weights_only=True), f"{name}/{f}", found)
        with open(out / "metrics.csv", newline="") as f:
            for row in csv.DictReader(f):
                found[f"{name}/metrics.csv.loss@{row['step']}"] = row["loss"]
    return found


def compare(ref: dict, now: dict) -> list[str]:
    diffs = [f"missing now: {k}" for k in ref if k not in now]
    diffs += [f"new now: {k}" for k in now if k not in ref]
    for k in ref.keys() & now.keys():
        a, b = ref[k], now[k]
        same = torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
        if not same:
            diffs.append(f"differs: {k}")
    return sorted(diffs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["record", "check"])
    p.add_argument("ref", type=Path, help="the reference file (written by record)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="fdiff-same-") as tmp:
        now = fingerprint(Path(tmp))
    if args.mode == "record":
        torch.save(now, args.ref)
        print(f"recorded {len(now)} tensors and numbers -> {args.ref}")
        return 0
    diffs = compare(torch.load(args.ref, weights_only=True), now)
    for d in diffs[:20]:
        print(d)
    n_t = sum(isinstance(v, torch.Tensor) for v in now.values())
    print(f"{len(now)} values compared ({n_t} tensors): {len(diffs)} differ")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
