"""Every named target of the Snakefile (rule all's siblings) plans what it names and what that
needs, nothing else, on the paper plan (dry runs).

Snakemake plans exactly the jobs that the files a target names depend on; so a target plans no
job that produces a file none of its outputs depend on when it names only its outputs: the
table's files for `tableN`, Table 6 and the ablation models for `ablations` (which therefore
plans the same jobs as `table6`), figures for `figures`, and for a dataset's target only files
that read that dataset alone: no other dataset is downloaded or prepared for it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from snakerun import snakemake
from upgrade import planned_jobs

REPO = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text())
R = CONFIG["results"]

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

if shutil.which("snakemake") is None:  # pragma: no cover
    pytest.skip("snakemake is not installed (pip install -e '.[test]')", allow_module_level=True)


def named_targets() -> list[str]:
    """The Snakefile's own target rules: every target rule that no rule file defines."""
    r = snakemake("--list-target-rules", "--workflow-profile", "none", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    staged = set()
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        staged |= set(re.findall(r"^(?:local)?rule (\w+):", smk.read_text(), re.M))
    names = [n for n in r.stdout.split() if re.fullmatch(r"\w+", n) and n not in staged]
    assert {"all", "ablations", "figures", "table6", "cub"} <= set(names), names
    return names


def plan(target: str) -> tuple[set[tuple[str, str]], list[str]]:
    """The dry run of `target`: its jobs as (rule, wildcards), and the files the target names."""
    r = snakemake("-n", "--workflow-profile", "none", "--cores", "1", target, timeout=300)
    assert r.returncode == 0, (target, r.stderr[-2000:])
    out = r.stdout + r.stderr
    jobs = set(planned_jobs(out))
    m = re.search(rf"^(?:local)?rule {target}:\n\s+input: (.*)$", out, re.M)
    named = m.group(1).split(", ") if m else []
    assert named, f"{target}: no job of the target rule in the plan"
    return jobs, named


def datasets_read(jobs) -> set[str]:
    """The datasets the jobs download, prepare, synthesize or train on."""
    out = set()
    for rule, wc in jobs:
        m = re.search(r"\b(?:dataset|data)=(\w+)", wc)
        if rule in ("download", "prepare", "synthesize", "train", "train_supervised") and m:
            out.add(m.group(1))
    return out


def test_every_named_target_plans_only_what_it_names():
    exps = CONFIG["experiments"]
    trained = {e["dataset"] for e in exps.values()}
    ablation_models = {
        f"{R}/{name}/{a}/model.pt" for name, e in exps.items() for a in e.get("ablations", [])
    }
    names = named_targets()
    assert trained <= set(names)  # one target per dataset trained on
    plans = {}
    for target in names:
        jobs, named = plan(target)
        plans[target] = jobs - {(target, "")}
        if re.fullmatch(r"table\d", target):
            assert sorted(named) == [f"{R}/tables/{target}.csv", f"{R}/tables/{target}.tex"]
        elif target == "figures":
            assert all(f.startswith(f"{R}/figures/") for f in named), named
        elif target == "ablations":
            assert set(named) == ablation_models | {
                f"{R}/tables/table6.{x}" for x in ("csv", "tex")
            }
        elif target in trained:
            assert datasets_read(jobs) == {target}, (target, datasets_read(jobs))
            assert all(re.search(rf"/{target}-\d+/", f) for f in named), named
    assert plans["ablations"] == plans["table6"], plans["ablations"] ^ plans["table6"]
    assert datasets_read(plans["all"]) >= trained  # `all` is everything
