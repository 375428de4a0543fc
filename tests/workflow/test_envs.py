"""The workflow's environments: the Snakefile plans where only Snakemake is installed, plans
with `--sdm conda`, and the env files of envs/ pin what pyproject.toml pins.

A submitting machine (a cluster's login node) may have Snakemake, its SLURM plugin and PyYAML
and nothing of fdiff's stack: the Snakefile reads fdiff's config schema and table layout at
parse time, and those imports must not pull torch, numpy's image stack or h5py. The test runs
Snakemake with those packages refused at import (Snakemake itself brings numpy, pandas, jinja2,
jsonschema and yaml: the rest of pyproject's dependencies are refused).

conda cannot be installed on our machines (no conda on PyPI or Debian here, and conda-forge is
not reachable), so the `--sdm conda` dry run gets a stand-in `conda` that answers only the calls a
dry run makes (`conda info --json`, `--version`, `config --get channel_priority`): the
Snakefile parses and plans with conda as the deployment method; environment creation itself
is not tested here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from snakerun import REPO, job_stats, snakemake, without_slurm

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

# pyproject's dependencies that a snakemake-only environment lacks (import names)
NOT_WITH_SNAKEMAKE = ("torch", "torchvision", "torch_fidelity", "tqdm", "PIL", "h5py", "scipy",
                      "skimage", "cv2", "matplotlib", "seaborn")  # fmt: skip
SNAKEMAKE_ONLY = f"""
import sys

class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_WITH_SNAKEMAKE!r}:
            raise ImportError(f"{{name}} is not installed in a snakemake-only environment")

sys.meta_path.insert(0, _Refuse())
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""
STAND_IN_CONDA = """#!/bin/sh
# conda cannot be installed here: this answers the calls a dry run makes, and no other
case "$*" in
  "info --json") printf '{"conda_prefix": "%s", "platform": "linux-64"}' "$STAND_IN_PREFIX" ;;
  "--version") echo "conda 24.7.1" ;;
  "config --get channel_priority --json") echo '{"get": {"channel_priority": "strict"}}' ;;
  *) echo "stand-in conda: '$*' is not available (no conda on this machine)" >&2; exit 1 ;;
esac
"""


@pytest.fixture(scope="module")
def paper_plan() -> dict[str, int]:
    """The paper plan's jobs per rule, planned with everything installed."""
    r = snakemake("-n", "all")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return job_stats(r.stdout)


def _snakemake_only(*args: str, env: dict | None = None):
    cmd = [sys.executable, "-c", SNAKEMAKE_ONLY, "--directory", str(REPO), *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env=without_slurm(env), timeout=600)  # fmt: skip


def test_paper_plan_dry_run_with_only_snakemake(paper_plan):
    r = _snakemake_only("-n", "all")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert job_stats(r.stdout) == paper_plan


def test_paper_plan_dry_run_with_sdm_conda(tmp_path, paper_plan):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    conda = bin_dir / "conda"
    conda.write_text(STAND_IN_CONDA)
    conda.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
               STAND_IN_PREFIX=str(tmp_path / "conda"))  # fmt: skip
    r = _snakemake_only("-n", "all", "--sdm", "conda", "--conda-prefix", str(tmp_path / "envs"),
                        env=env)  # fmt: skip
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert job_stats(r.stdout) == paper_plan


# --- the env files ----------------------------------------------------------------------------

CONDA_NAMES = {"matplotlib-base": "matplotlib"}  # conda-forge name -> PyPI name


def _rules() -> dict[str, str]:
    """rule name -> its text, from every rule file."""
    out = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for m in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text(), re.M | re.S):
            out[m.group(1)] = m.group(2)
    return out


def _env_requirements(path: Path) -> list[Requirement]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    reqs = []
    for d in deps:
        for spec in d["pip"] if isinstance(d, dict) else [d]:
            if spec.startswith("-") or spec.startswith("python=") or spec == "pip":
                continue
            name = re.match(r"[A-Za-z0-9_.-]+", spec).group(0)
            reqs.append(Requirement(CONDA_NAMES.get(name, name) + spec[len(name) :]))
    return reqs


def _pinned(spec: SpecifierSet, wanted: SpecifierSet) -> bool:
    """The env's spec is pyproject's, or an exact version that pyproject allows."""
    if spec == wanted:
        return True
    exact = [s for s in spec if s.operator == "=="]
    return len(exact) == 1 and len(spec) == 1 and wanted.contains(exact[0].version)


@pytest.mark.parametrize("env_file", sorted(p.name for p in (REPO / "envs").glob("*.yaml")))
def test_env_files_pin_what_pyproject_pins(env_file):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {Requirement(r).name.lower(): Requirement(r).specifier
              for r in project["dependencies"]}  # fmt: skip
    reqs = _env_requirements(REPO / "envs" / env_file)
    assert reqs
    for req in reqs:
        name = req.name.lower()
        assert req.specifier, f"envs/{env_file}: {req.name} is not pinned"
        if name in wanted:
            assert _pinned(req.specifier, wanted[name]), (
                f"envs/{env_file}: {req} is not pyproject.toml's {name}{wanted[name]}"
            )
    # one torch build for every environment
    torch = {str(r.specifier) for r in reqs if r.name == "torch"}
    ref = {
        str(r.specifier) for r in _env_requirements(REPO / "envs/torch.yaml") if r.name == "torch"
    }
    assert not torch or torch == ref, f"envs/{env_file}: torch{torch}, envs/torch.yaml: {ref}"


def test_gpu_rules_share_the_torch_environment():
    rules = _rules()
    markers = ("GPU_RESOURCES", "gpu_job_resources(", "sampling_resources(", "gpu=")
    gpu = [n for n, text in rules.items() if any(m in text for m in markers)]
    assert "train" in gpu and "interpolate" in gpu and "sample_shard" in gpu, gpu
    for name in gpu:
        env = re.search(r"conda:\s*\n\s*\"([^\"]+)\"", rules[name])
        assert env and env.group(1).endswith("envs/torch.yaml"), (name, env and env.group(1))
