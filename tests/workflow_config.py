"""The one-experiment workflow config of the workflow tests that train under an executor
(tests/training/test_ddp_workflow.py, tests/slurm/): shapes-16, the factorized arch at the tiny
preset, a per-image evaluation on shapes, no FID. Each test gives its own training, launch and
GPU."""

from __future__ import annotations

import json
from pathlib import Path

TEMPLATE = """
results: {results}
raw: {results}/raw
inception_weights: {results}/cache/inception.pth
gpu_resources:
  {{gpu: {gpu}, cpus_per_gpu: 1, threads: 1, mem_mb: 1000, base_mem_mb: 500, runtime: 10}}
cpu_resources: {{threads: 1, mem_mb: 1000, runtime: 10}}
datasets:
  shapes: {{source: synthetic, difficulty: easy, num_train: 32, num_val: 4, num_test: 8}}
experiments:
  shapes-16:
    dataset: shapes
    res: 16
    archs: [factorized]
    model: {{preset: tiny}}
    train: {train}
    launch: {launch}
    segment: {{t: 30, batch_size: 8}}
    evaluations: [{{data: shapes, protocols: [per_image]}}]
    fid: false
"""


def shapes16_config(results: str | Path, *, gpu: int, train: dict, launch: dict) -> str:
    """The config text (YAML) with results under ``results``; ``gpu``: the GPUs of each GPU
    job (0: CPU); ``train`` and ``launch``: the experiment's sections."""
    return TEMPLATE.format(
        results=results, gpu=gpu, train=json.dumps(train), launch=json.dumps(launch)
    )
