"""The one scoring rule's inputs and arguments: the same as each of the five rules it replaced
(a model's masks, DatasetDDPM-unsup's, GrabCut's, a prior's; per-class)."""

from __future__ import annotations

from fdiff.plan.experiments import Plan
from fdiff.plan.scoring import score_args, score_inputs


def test_a_models_masks_per_image_and_fixed(demo):
    plan, R = Plan(demo), demo["results"]
    assert score_inputs(plan, "shapes-16/factorized/seg/shapes", "per_image") == {
        "pred": f"{R}/shapes-16/factorized/seg/shapes-test.h5",
        "data": f"{R}/data/shapes-16.h5",
    }
    fixed = score_inputs(plan, "shapes-16/factorized/seg/shapes", "fixed")
    assert fixed["fit"] == f"{R}/shapes-16/factorized/seg/shapes-val.h5"
    assert score_args(plan, "shapes-16/factorized/seg/shapes", "fixed", "") == (
        f"--split test --protocol fixed --fit-pred {R}/shapes-16/factorized/seg/shapes-val.h5"
        " --fit-split val"
    )


def test_a_baseline_reads_its_own_prefix(demo):
    plan, R = Plan(demo), demo["results"]
    got = score_inputs(plan, "baselines/shapes-16/grabcut", "per_image")
    assert got["pred"] == f"{R}/baselines/shapes-16/grabcut-test.h5"


def test_per_class_and_multiclass_flags(paper):
    plan = Plan(paper)
    voc = [
        (name, ev)
        for name in plan.experiments
        for ev in plan.experiments[name]["evaluations"]
        if ev["per_class"]
    ]
    assert voc, "the paper has a per-class evaluation (Table 7)"
    name, ev = voc[0]
    scored = f"{name}/factorized/seg/{ev['data']}"
    args = score_args(plan, scored, ev["protocols"][0], "-classes")
    assert args.endswith(" --per-class")
    assert (" --multiclass" in args) == ev["multiclass"]
    assert "--per-class" not in score_args(plan, scored, ev["protocols"][0], "")
