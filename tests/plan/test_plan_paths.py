"""The result-path registry: one template per file, wildcards left where a field is not given,
and the scoring rule's {scored} prefix read back into its fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fdiff.plan.experiments import Plan
from fdiff.plan.paths import TEMPLATES, Layout, fill
from fdiff.plan.scoring import scored_pattern
from fdiff.plan.targets import all_targets


def test_fill_leaves_the_fields_not_given_as_wildcards():
    assert fill(TEMPLATES["seg_csv"], arch="ddpm", data="cub") == (
        "{dataset}-{res}/ddpm/seg/cub-{protocol}.csv"
    )
    L = Layout("R")
    assert L.model() == "R/{dataset}-{res}/{arch}/model.pt"
    assert L.model(**L.run("cub-128", "ddpm")) == "R/cub-128/ddpm/model.pt"
    assert L.log("segment", "{dataset}-{res}") == "R/logs/segment/{dataset}-{res}.log"
    assert L.log("status") == "R/logs/status.log"
    # the scoring rule's pattern, filled in, is each score CSV of the registry
    run = L.run("cub-128", "ddpm")
    assert L.scores(scored="cub-128/ddpm/seg/cub-kmeans", protocol="fixed", classes="") == (
        L.kmeans_csv(**run, data="cub", protocol="fixed")
    )
    assert L.scores(scored="cub-128/ddpm/seg/cub", protocol="fixed", classes="-classes") == (
        L.seg_classes_csv(**run, data="cub", protocol="fixed")
    )
    assert L.figure("loss-curves") == ("R/figures/loss-curves.png", "R/figures/loss-curves.pdf")
    with pytest.raises(AttributeError):
        L.no_such_file()


@pytest.mark.parametrize(
    "scored, fields",
    [
        ("cub-128/factorized/seg/cub", {"dataset": "cub", "res": "128", "data": "cub"}),
        ("ffhq-128/ddpm/seg/celebamaskhq-kmeans", {"data": "celebamaskhq", "res": "128"}),
        ("baselines/flowers-64/kmeans_rgb", {"data": "flowers", "res": "64", "kind": "kmeans_rgb"}),
    ],
)
def test_scored_prefixes_name_their_dataset_and_resolution(scored, fields):
    got = Layout.scored_fields(scored)
    assert {k: got[k] for k in fields} == fields


def test_a_path_that_is_no_scored_prefix_is_refused():
    with pytest.raises(ValueError, match="no scored segmentation prefix"):
        Layout.scored_fields("cub-128/factorized/tsweep-cub")


def test_the_scored_pattern_matches_every_score_csv_of_the_plan(config):
    """Every eval-seg CSV that the plan asks for is the scoring rule's, nothing else is."""
    plan = Plan(config)
    scored = scored_pattern()
    pattern = re.compile(
        rf"{re.escape(plan.layout.results)}/({scored})-(per_image|fixed)(-classes)?\.csv"
    )
    scores = [f for f in all_targets(plan) if pattern.fullmatch(f)]
    others = [f for f in all_targets(plan) if f.endswith(".csv") and not pattern.fullmatch(f)]
    assert scores, "no score CSV in the plan"
    assert all("/tables/" in f or "/tsweep-" in f or "/supervised/" in f for f in others), others


def test_the_rules_spell_no_result_file():
    """The rule files name result files only through the registry: no quoted path of a result
    file type (the environments, the config and its schema are no results)."""
    repo = Path(__file__).resolve().parents[2]
    result_file = re.compile(r"\"[^\"]*\.(h5|csv|json|pt|tsv|log|png|pdf|txt)\"")
    for smk in [repo / "Snakefile", *sorted((repo / "workflow/rules").glob("*.smk"))]:
        found = result_file.findall(smk.read_text())
        assert not found, f"{smk.name}: result paths spelled outside fdiff/plan/paths.py"
