"""The config checks: the three configs pass; each inconsistency fails in one line that names
the key."""

from __future__ import annotations

import copy

import pytest

from fdiff.plan.checks import check_config
from fdiff.plan.experiments import Plan


def test_the_three_configs_pass(config):
    check_config(Plan(config))


def _broken(demo, change):
    cfg = copy.deepcopy(demo)
    change(cfg, cfg["experiments"]["shapes-16"])
    return Plan(cfg)


CASES = {
    "named dataset-res": (
        lambda c, e: c["experiments"].update({"shapes-32": c["experiments"].pop("shapes-16")}),
        "experiment 'shapes-32' must be named dataset-res",
    ),
    "unknown dataset": (
        lambda c, e: e["evaluations"][0].update(data="cub"),
        "uses dataset 'cub', which is not under `datasets`",
    ),
    "ablation twice": (
        lambda c, e: e["archs"].append(e["ablations"][0]),
        "is in archs and in ablations",
    ),
    "override of no arch": (
        lambda c, e: e["arch_overrides"].update(nosuch={}),
        "arch_overrides: unknown arch 'nosuch'",
    ),
    "hierarchical without sub_regions": (
        lambda c, e: e["archs"].append("hierarchical"),
        "arch hierarchical needs arch_overrides.hierarchical.model.sub_regions >= 2",
    ),
    "shard off a batch boundary": (
        lambda c, e: e["sample"].update(shard_size=e["sample"]["batch_size"] + 1),
        "sample.shard_size",
    ),
    "table of no experiment": (
        lambda c, e: c["tables"]["table1"].update(experiment="cub-128"),
        "tables.table1: unknown experiment 'cub-128'",
    ),
    "bad run config key": (
        lambda c, e: e["train"].update(stepz=3),
        "config: experiments.shapes-16",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_inconsistency_fails_in_one_line(demo, case):
    change, message = CASES[case]
    with pytest.raises(ValueError) as err:
        check_config(_broken(demo, change))
    assert message in str(err.value) and "\n" not in str(err.value)
