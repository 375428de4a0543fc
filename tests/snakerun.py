"""Snakemake as the workflow tests run it (tests/workflow, tests/rehearsal): on this checkout's
Snakefile from the repository root, without SLURM unless asked, and the 'Job stats' table of
its output."""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# How the README's command 1 runs the demo, less its --configfile: the demo test runs the same
# on a reduced demo (tests/test_readme.py checks the README against it).
DEMO_ARGS = ("all", "--cores", "2")


# The SLURM commands that snakemake-executor-plugin-slurm 2.8.0 (imported by every Snakemake
# start) and fdiff.plan.slurm_preempt look for. Where SLURM is installed but its controller is down
# (a CI machine between SLURM tests), the plugin's import asks `scontrol show config` and waits
# about 9 s for it; without `sinfo` on PATH it asks nothing, as on a laptop without SLURM.
SLURM_COMMANDS = ("sinfo", "sacct", "squeue", "sbatch", "scontrol", "scancel", "srun")


def without_slurm(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with a PATH on which the machine's SLURM commands are
    not found: each directory of this process's PATH that holds one is replaced by a folder of
    links to its other entries. Directories that only ``env`` adds (a test's stand-in
    `scontrol`) stay."""
    env = dict(os.environ if env is None else env)
    machine = set(os.environ.get("PATH", "").split(os.pathsep))
    dirs = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(_without_slurm_dir(d) if d in machine else d for d in dirs)
    return env


@functools.cache
def _without_slurm_dir(directory: str) -> str:
    src = Path(directory)
    if not any((src / c).exists() for c in SLURM_COMMANDS):
        return directory
    out = Path(tempfile.mkdtemp(prefix="fdiff-no-slurm-"))
    atexit.register(shutil.rmtree, out, True)
    for entry in src.iterdir():
        if entry.name not in SLURM_COMMANDS:
            (out / entry.name).symlink_to(entry)
    return str(out)


def snakemake(
    *args: str, env=None, timeout: int = 600, log: Path | None = None, slurm: bool = False
) -> subprocess.CompletedProcess:
    """Run snakemake with ``args`` under ``env`` (default: this process's); output captured,
    or written to ``log``. Without ``slurm``, no SLURM command is found on its PATH (see
    :func:`without_slurm`); commands that ``env``'s PATH adds are kept (stand-ins)."""
    cmd = ["snakemake", "--directory", str(REPO), "--snakefile", str(REPO / "Snakefile"), *args]
    if not slurm:
        env = without_slurm(env)
    if log is None:
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env,
                              timeout=timeout)  # fmt: skip
    with open(log, "w") as f:
        return subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env,
                              text=True, timeout=timeout)  # fmt: skip


def job_stats(out: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run or dry run: rule -> number of jobs."""
    block = out.split("Job stats:", 1)[1]
    counts = {}
    for line in block.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts
