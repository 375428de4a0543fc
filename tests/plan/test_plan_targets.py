"""The targets of the three configs: where each lands, and that the tables' and figures'
inputs are among what `all` makes."""

from __future__ import annotations

import pytest

from fdiff.plan import targets
from fdiff.plan.experiments import Plan


def test_every_target_lies_under_results(config):
    plan = Plan(config)
    files = targets.all_targets(plan)
    assert len(files) == len(set(files)), "a target twice"
    assert all(f.startswith(config["results"] + "/") for f in files)
    assert targets.table_files(plan)[:2] == [
        f"{config['results']}/tables/table1.csv",
        f"{config['results']}/tables/table1.tex",
    ]


def test_the_tables_read_what_all_makes(config):
    plan = Plan(config)
    made = set(targets.all_targets(plan))
    for n in targets.TABLES:
        for key, path in targets.table_pairs(plan, n):
            assert path in made, (n, key, path)


def test_dataset_and_ablation_targets_are_part_of_all(config):
    plan = Plan(config)
    made = set(targets.all_targets(plan))
    for ds in {e["dataset"] for e in plan.experiments.values()}:
        assert set(targets.dataset_targets(plan, ds)) <= made
    ablations = targets.ablation_targets(plan)
    assert set(ablations) <= made
    for name, exp in plan.experiments.items():
        for arch in exp["ablations"]:
            assert f"{config['results']}/{name}/{arch}/model.pt" in ablations


def test_paper_plan_files(paper):
    plan = Plan(paper)
    R = paper["results"]
    files = set(targets.all_targets(plan))
    two_level = [n for n, e in plan.experiments.items() if "hierarchical" in e["archs"]]
    assert two_level, "the paper plan draws the appendix's hierarchy figure"
    assert {f"{R}/figures/hierarchy-{n}.png" for n in two_level} <= files
    assert any(f.endswith("-classes.csv") for f in files)  # Table 7's per-class scores
    assert f"{R}/status.txt" in files and f"{R}/figures/loss-curves.png" in files


def test_demo_plan_scores_the_shipped_model(demo):
    plan = Plan(demo)
    R = demo["results"]
    files = targets.all_targets(plan)
    assert f"{R}/shapes-16/pretrained/seg/shapes-fixed.csv" in files
    assert f"{R}/shapes-16/pretrained/fid.json" not in files  # installed, not sampled
    masks = targets.segmentation_masks(plan, "shapes-16", "shapes")
    assert masks == [
        f"{R}/shapes-16/factorized/seg/shapes-test.h5",
        f"{R}/shapes-16/pretrained/seg/shapes-test.h5",
    ]
    assert plan.pred_labels("shapes-16") == ["this run", "shipped"]


def test_a_table_row_without_result_files_is_refused(demo):
    with pytest.raises(ValueError, match="row 'nosuchrow'.*fdiff/plan/targets.py"):
        targets.row_files(Plan(demo), 1, "nosuchrow", "shapes-16", "shapes")
