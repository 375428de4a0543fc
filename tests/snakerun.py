"""Snakemake as the workflow tests run it (tests/workflow, tests/rehearsal): on this checkout's
Snakefile from the repository root, and the 'Job stats' table of its output."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# How the README's command 1 runs the demo, less its --configfile: the demo test runs the same
# on a reduced demo (tests/test_readme.py checks the README against it).
DEMO_ARGS = ("all", "--cores", "2")


def snakemake(
    *args: str, env=None, timeout: int = 600, log: Path | None = None
) -> subprocess.CompletedProcess:
    """Run snakemake with ``args`` under ``env`` (default: this process's); output captured,
    or written to ``log``."""
    cmd = ["snakemake", "--directory", str(REPO), "--snakefile", str(REPO / "Snakefile"), *args]
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
