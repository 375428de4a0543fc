"""The one scoring job: `fdiff eval-seg` of any segmentation file of the plan (a model's masks,
DatasetDDPM-unsup's, GrabCut's, a prior's), named by its RESULTS-relative prefix {scored}
(fdiff.plan.paths.SCORED_PREFIXES): {scored}-{split}.h5 -> {scored}-{protocol}[-classes].csv.
The dataset and resolution come back from the prefix, the splits from the evaluation."""

from __future__ import annotations

import shlex

from fdiff.config import ARCHS
from fdiff.plan.experiments import GRABCUT, PRETRAINED, PRIOR_KINDS, Plan
from fdiff.plan.paths import CLASSES_SUFFIX, Layout


def scored_pattern() -> str:
    """The regex of {scored}: the prefix of a segmentation file of any arch or baseline."""
    return Layout.scored_pattern([*ARCHS, PRETRAINED], [GRABCUT, *PRIOR_KINDS])


def _prefix(plan: Plan, scored: str) -> tuple[str, dict]:
    return f"{plan.layout.results}/{scored}", plan.layout.scored_fields(scored)


def score_inputs(plan: Plan, scored: str, protocol: str) -> dict[str, str]:
    """pred: the masks scored; fit: the fit split's masks (fixed protocol only); data."""
    prefix, f = _prefix(plan, scored)
    spec = plan.eval_spec(f["data"], f["res"])
    out = {"pred": f"{prefix}-{spec['split']}.h5"}
    if protocol == "fixed":
        out["fit"] = f"{prefix}-{spec['fit_split']}.h5"
    out["data"] = plan.layout.data_h5(dataset=f["data"], res=f["res"])
    return out


def score_args(plan: Plan, scored: str, protocol: str, classes: str) -> str:
    """`fdiff eval-seg` arguments but its files: split, protocol, the fixed protocol's fit
    masks, multiclass, and --per-class for a -classes CSV."""
    _, f = _prefix(plan, scored)
    spec = plan.eval_spec(f["data"], f["res"])
    args = f"--split {spec['split']} --protocol {protocol}"
    if protocol == "fixed":
        fit = score_inputs(plan, scored, protocol)["fit"]
        args += f" --fit-pred {shlex.quote(fit)} --fit-split {spec['fit_split']}"
    if spec["multiclass"]:
        args += " --multiclass"
    if classes == CLASSES_SUFFIX:
        args += " --per-class"
    return args
