"""Preemption modes on the real two-node cluster. One fdiff cannot support: with the fixture's
`gpu` partition under PreemptType=preempt/partition_prio and PreemptMode=CANCEL, the paper
plan through the slurm profile (a dry run) stops while it is parsed, with one line naming
the partition and the mode, before anything is submitted (fdiff.plan.slurm_preempt). One it
lets through with a warning: SUSPEND,GANG."""

from __future__ import annotations

import re
import subprocess

import pytest
from snakerun import REPO, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.mark.parametrize("preempt_cluster", ["CANCEL"], indirect=True)
def test_cancel_partition_refused_before_submission(preempt_cluster):
    parts = subprocess.run(["scontrol", "show", "partition", "gpu", "-o"], capture_output=True,
                           text=True, timeout=30).stdout  # fmt: skip
    assert "PreemptMode=CANCEL" in parts, parts
    # a dry run: the check runs while the workflow is parsed, before any job is planned, so a
    # real run stops at the same point (and a broken check submits nothing here)
    r = snakemake("-n", "all", "--profile", str(REPO / "workflow/profiles/slurm"), timeout=300,
                  slurm=True)  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    lines = [ln for ln in out.splitlines() if "PreemptMode=CANCEL" in ln]
    assert len(lines) == 1 and "'gpu' (PreemptMode=CANCEL)" in lines[0], out
    assert "PreemptMode=REQUEUE" in lines[0], out
    assert "Job stats" not in out, out[-3000:]  # stopped before planning


@pytest.mark.parametrize("preempt_cluster", ["SUSPEND"], indirect=True)
def test_suspend_partition_planned_with_one_warning(preempt_cluster):
    """PreemptMode=SUSPEND,GANG is let through: the same dry run plans, and says once why
    REQUEUE is the tested mode (fdiff.plan.slurm_preempt.caution)."""
    parts = subprocess.run(["scontrol", "show", "partition", "gpu", "-o"], capture_output=True,
                           text=True, timeout=30).stdout  # fmt: skip
    assert re.search(r"PreemptMode=\S*SUSPEND", parts), parts  # SLURM shows GANG,SUSPEND
    r = snakemake("-n", "all", "--profile", str(REPO / "workflow/profiles/slurm"), timeout=300,
                  slurm=True)  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    lines = [ln for ln in out.splitlines() if "PreemptMode=SUSPEND" in ln]
    assert len(lines) == 1 and "'gpu' (PreemptMode=SUSPEND)" in lines[0], out[-3000:]
    assert "PreemptMode=REQUEUE is the tested mode" in lines[0], out[-3000:]
    assert "Job stats" in out, out[-3000:]  # planned
