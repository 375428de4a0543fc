"""The paper plan as the SLURM profile submits it (a dry run with workflow/profiles/slurm and a
GPU type set in the profile's way, `--config gpu_model=...`): what each SLURM job asks for.

- every GPU job carries the one GPU type: one node `gpu` + `gpu_model` (`--gpus=TYPE:N`),
  several nodes `gres=gpu:TYPE:N` (per node, as torchrun starts N ranks on each);
- no job group: each small CPU job is its own submission, so no request adds up its members'
  and no job waits for inputs of another;
- no CPU job asks for more than 8 CPUs or 32 GB;
- a GPU job's wall time and host memory follow from its work (fdiff.plan.jobsize): a sample shard
  at 64 px asks less time than one of as many images at 128 px, the t sweep more than one
  segmentation of its split, FID against ImageNet more time and memory than against Flowers;
  no GPU job but training asks for more than 24 h or more memory than gpu_resources.mem_mb.
"""

from __future__ import annotations

import os
import re

import pytest
from snakerun import REPO, snakemake

pytestmark = pytest.mark.workflow

MAX_CPUS, MAX_MEM_MB = 8, 32000


def _jobs(out: str) -> list[dict]:
    found = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", out):
        m = re.search(r"^(local)?rule (\w+):", block, re.M)
        if not m:
            continue
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        found.append({
            "rule": m.group(2),
            "wildcards": dict(kv.split("=", 1) for kv in wildcards.group(1).split(", "))
            if wildcards else {},
            "local": bool(m.group(1)),
            "resources": dict(kv.split("=", 1) for kv in res.group(1).split(", ")) if res else {},
            "threads": int(threads.group(1)) if threads else 1,
        })  # fmt: skip
    return found


@pytest.fixture(scope="module")
def slurm_plan() -> str:
    r = snakemake("-n", "all", "--profile", str(REPO / "workflow/profiles/slurm"),
                  "--config", "gpu_model=a100", timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    return r.stdout + r.stderr


def test_every_gpu_job_has_the_gpu_type(slurm_plan):
    gpu_jobs = [j for j in _jobs(slurm_plan)
                if "gpu" in j["resources"] or "gres" in j["resources"]]  # fmt: skip
    assert {j["rule"] for j in gpu_jobs} >= {"train", "sample_shard", "segment", "interpolate"}
    for j in gpu_jobs:
        res = j["resources"]
        if int(res.get("nodes", 1)) > 1:
            assert re.fullmatch(r"gpu:a100:\d+", res["gres"]) and "gpu" not in res, j
        else:
            assert res["gpu_model"] == "a100" and "gres" not in res, j


def _cpu_jobs(plan: str) -> list[dict]:
    return [j for j in _jobs(plan) if "gpu" not in j["resources"] and "gres" not in j["resources"]]


def test_small_jobs_are_small_submissions(slurm_plan):
    assert "Group job" not in slurm_plan
    cpu_jobs = _cpu_jobs(slurm_plan)
    assert len(cpu_jobs) > 100
    for j in cpu_jobs:
        assert int(j["resources"]["mem_mb"]) <= MAX_MEM_MB, j
    # threads (--cpus-per-task): a dry run under the executor prints none, and a local one caps
    # them at --cores: read them from a local dry run with more cores than any job asks
    r = snakemake("-n", "all", "--workflow-profile", "none", "--cores", "1000", timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    threads = {j["rule"]: j["threads"] for j in _cpu_jobs(r.stdout + r.stderr)}
    assert max(threads.values()) > 1, threads  # the threads are read (prepare asks for 8)
    assert all(t <= MAX_CPUS for t in threads.values()), threads


def _gpu_jobs(plan: str) -> list[dict]:
    return [j for j in _jobs(plan) if "gpu" in j["resources"] or "gres" in j["resources"]]


def _by(jobs: list[dict], rule: str, key: str, *wildcards: str) -> dict:
    return {
        tuple(j["wildcards"][w] for w in wildcards): int(j["resources"][key])
        for j in jobs if j["rule"] == rule
    }  # fmt: skip


def test_gpu_runtimes_follow_the_work(slurm_plan):
    gpu_jobs = _gpu_jobs(slurm_plan)
    for j in gpu_jobs:
        if j["rule"] != "train":
            assert 30 <= int(j["resources"]["runtime"]) <= 24 * 60, j
    shards = _by(gpu_jobs, "sample_shard", "runtime", "dataset", "res", "arch", "shard")
    # shard 0 holds sample.shard_size images at either resolution
    for arch in ("factorized", "ddpm"):
        assert shards["flowers", "64", arch, "0"] < shards["flowers", "128", arch, "0"]
    # the last shard of 10,000 images holds fewer: it asks for less
    last = max(int(k[3]) for k in shards)
    assert shards["cub", "128", "factorized", str(last)] < shards["cub", "128", "factorized", "0"]
    # the model's cost counts: the DDPM baseline's shard is cheaper than the factorized one's
    assert shards["cub", "128", "ddpm", "0"] < shards["cub", "128", "factorized", "0"]
    # the other GPU rules: sized from their datasets, no longer one flat figure
    seg = _by(gpu_jobs, "segment", "runtime", "dataset", "res", "arch", "data", "split")
    sweep = _by(gpu_jobs, "tsweep", "runtime", "dataset", "res", "arch", "data")
    # FFHQ-128's sweep segments CelebAMask-HQ's test split at 7 t: over one segmentation of it
    assert (
        sweep["ffhq", "128", "factorized", "celebamask"]
        > (seg["ffhq", "128", "factorized", "celebamask", "test"])
    )
    fid = _by(gpu_jobs, "fid", "runtime", "dataset", "res", "arch")
    assert fid["imagenet", "64", "factorized"] > fid["flowers", "64", "factorized"]
    others = {"segment", "tsweep", "fid", "consistency", "baseline_kmeans",
              "baseline_kmeans_samples", "train_supervised", "segment_supervised"}  # fmt: skip
    assert {j["rule"] for j in gpu_jobs} >= others
    assert len({j["resources"]["runtime"] for j in gpu_jobs if j["rule"] in others}) > 3


def test_gpu_memory_follows_the_work(slurm_plan):
    gpu_jobs = _gpu_jobs(slurm_plan)
    for j in gpu_jobs:
        if j["rule"] != "train":  # between gpu_resources.base_mem_mb and mem_mb
            assert 8000 <= int(j["resources"]["mem_mb"]) <= 64000, j
    # FID keeps every Inception feature of both sets: ImageNet's 1.28M reference images need
    # tens of GB, Flowers' 6,149 little over the base
    fid = _by(gpu_jobs, "fid", "mem_mb", "dataset", "res", "arch")
    assert fid["imagenet", "64", "factorized"] > 40000 > 12000 > fid["flowers", "64", "factorized"]
    # weights count: the unshared ablation (K decoders) asks more than the shared model
    shard = _by(gpu_jobs, "sample_shard", "mem_mb", "dataset", "res", "arch", "shard")
    assert shard["cub", "128", "unshared", "0"] > shard["cub", "128", "factorized", "0"]
    # data count: FFHQ-128's models segment CelebAMask-HQ's 24,183 training images (fixed
    # protocol) with more memory than its 2,824 test images
    seg = _by(gpu_jobs, "segment", "mem_mb", "dataset", "res", "arch", "data", "split")
    key = ("ffhq", "128", "factorized", "celebamask")
    assert seg[(*key, "train")] > seg[(*key, "test")]


def test_cancel_preemption_is_refused_before_planning(tmp_path):
    # The SLURM that answers here is a stand-in `scontrol` printing the fixture's captured
    # partitions with `gpu` under PreemptMode=CANCEL (tests/slurm has the real cluster in that
    # mode); the jobs' partitions come from the slurm profile.
    plain = (REPO / "tests/slurm/scontrol-partition-plain.txt").read_text()
    cancel = re.sub(r"^(PartitionName=gpu .*)PreemptMode=OFF", r"\1PreemptMode=CANCEL", plain,
                    flags=re.M)  # fmt: skip
    (tmp_path / "partitions.txt").write_text(cancel)
    scontrol = tmp_path / "scontrol"
    scontrol.write_text(f'#!/bin/sh\ncat "{tmp_path / "partitions.txt"}"\n')
    scontrol.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    r = snakemake("-n", "all", "--profile", str(REPO / "workflow/profiles/slurm"), env=env,
                  timeout=300)  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "Job stats" not in out, out[-3000:]
    lines = [ln for ln in out.splitlines() if "PreemptMode=CANCEL" in ln]
    assert len(lines) == 1 and "'gpu' (PreemptMode=CANCEL)" in lines[0], out
    assert "PreemptMode=REQUEUE" in lines[0], out
