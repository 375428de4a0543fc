"""What the plan makes: the files of each target (all, ablations, one per dataset, the tables
and figures) and the inputs of each table and figure, as paths of the registry."""

from __future__ import annotations

from fdiff.plan.experiments import FACTORIZED_ARCHS, GRABCUT, PRETRAINED, PRIOR_KINDS, Plan
from fdiff.report.specs import QUOTED, SPECS

TABLES = range(1, 8)


def model_files(plan: Plan, names=None, ablations: bool = False) -> list[str]:
    """The model.pt of every trained arch (of `names`; only the ablations)."""
    L, out = plan.layout, []
    for name in names or plan.experiments:
        exp = plan.experiments[name]
        archs = exp["ablations"] if ablations else plan.all_archs(name)
        out += [L.model(**L.run(name, a)) for a in archs]
    return out


def eval_files(plan: Plan, name: str, archs=None, data=None) -> list[str]:
    """Every metric file of one experiment (for its archs, or the given ones): its models'
    and its baselines'. `data`: only those that read no dataset but `data`."""
    return model_eval_files(plan, name, archs, data) + baseline_files(plan, name, data)


def model_eval_files(plan: Plan, name: str, archs=None, data=None) -> list[str]:
    """The metric files of the experiment's models (all of them, or `archs`); `data`: only
    those that read no other dataset (FID reads the training set, consistency the
    experiment's `consistency` set, a segmentation its evaluation's)."""
    L, exp = plan.layout, plan.experiments[name]
    archs = plan.seg_archs(name) if archs is None else archs
    out = []
    for arch in archs:
        run = L.run(name, arch)
        sampled = arch != PRETRAINED
        if exp["fid"] and sampled and data in (None, exp["dataset"]):
            out.append(L.fid(**run))
        if exp["consistency"] and sampled and data in (None, exp["consistency"]):
            out.append(L.consistency(**run))
        for ev in plan.evaluations(name, data):
            d, protocols = ev["data"], ev["protocols"]
            if arch in FACTORIZED_ARCHS:
                out += [L.seg_csv(**run, data=d, protocol=p) for p in protocols]
                if ev["tsweep"] and arch == "factorized":
                    out.append(L.tsweep(**run, data=d))
                if ev["per_class"] and arch == "factorized":
                    out += [L.seg_classes_csv(**run, data=d, protocol=p) for p in protocols]
            elif "kmeans" in ev["baselines"]:
                out += [L.kmeans_csv(**run, data=d, protocol=p) for p in protocols]
    return out


def baseline_files(plan: Plan, name: str, data=None) -> list[str]:
    """The metric files of the baselines of the experiment's evaluations (on `data` only)."""
    L, res = plan.layout, plan.experiments[name]["res"]
    out = []
    for ev in plan.evaluations(name, data):
        d = ev["data"]
        for kind in [GRABCUT, *PRIOR_KINDS]:
            if kind in ev["baselines"]:
                out += [
                    L.baseline_csv(data=d, res=res, kind=kind, protocol=p) for p in ev["protocols"]
                ]
        if "supervised" in ev["baselines"]:
            out.append(L.supervised_csv(data=d, res=res, split=ev["split"]))
    return out


def table_files(plan: Plan, tables=TABLES) -> list[str]:
    L = plan.layout
    return [f for n in tables for f in (L.table_csv(n=n), L.table_tex(n=n))]


def all_targets(plan: Plan) -> list[str]:
    """The `all` target: the tables, the figures, every model and metric file, the status."""
    out = table_files(plan) + figure_files(plan)
    for name in plan.experiments:
        out += model_files(plan, [name]) + eval_files(plan, name)
    return out + ([plan.layout.status()] if plan.experiments else [])


def dataset_targets(plan: Plan, dataset: str) -> list[str]:
    """A dataset's target: the models trained on it and what is measured on it (their FID and
    segmentations of it, the baselines on it), never another dataset's preparation: a model's
    evaluation on another dataset belongs to that table and to `all`."""
    out = []
    for name, exp in plan.experiments.items():
        if exp["dataset"] == dataset:
            out += model_files(plan, [name]) + eval_files(plan, name, data=dataset)
        else:  # its models need their own training set
            out += baseline_files(plan, name, data=dataset)
    return sorted(set(out))


def ablation_targets(plan: Plan) -> list[str]:
    """The `ablations` target: Table 6 and the ablation models it compares (with the
    ablations of an experiment that Table 6 does not show); nothing else."""
    return [*model_files(plan, ablations=True), *table_files(plan, [6])]


# --- the tables' inputs ---------------------------------------------------------------------
# A table's rows are fdiff's table specs (fdiff.report.specs.SPECS); `row_files` maps each row
# key to its result files, and fails on a row it does not know.


def table_rows(n: int) -> list[str]:
    """The computed rows of table n (their keys), in the table's order."""
    return [r.key for r in SPECS[n].rows if r.key != QUOTED]


def row_files(plan: Plan, n: int, row: str, name: str, data) -> list[str]:
    """The result files of row `row` of table n on the evaluation of experiment `name` on
    `data`: one eval-seg CSV per protocol (Table 7: the factorized model's per-class CSV where
    the evaluation writes one), and the FID JSON of a model row of a table with an FID column.
    [] where the row is not configured."""
    L, exp = plan.layout, plan.experiments[name]
    # data None: Table 6 of an experiment without evaluations (its FID column only).
    ev = None if data is None and n == 6 else plan.evaluation(name, data)
    protocols = ev["protocols"] if ev else []
    baselines = ev["baselines"] if ev else []
    res = exp["res"]
    if row in FACTORIZED_ARCHS:  # the trained factorized archs and the shipped model
        if row not in plan.seg_archs(name):
            return []
        run = L.run(name, row)
        classes = n == 7 and row == "factorized" and ev and ev["per_class"]
        seg = L.seg_classes_csv if classes else L.seg_csv
        out = [seg(**run, data=data, protocol=p) for p in protocols]
        if "fid" in SPECS[n].metrics and exp["fid"] and row != PRETRAINED:
            out.append(L.fid(**run))
        return out
    if row == "kmeans":
        if "kmeans" not in baselines or "ddpm" not in plan.all_archs(name):
            return []
        return [L.kmeans_csv(**L.run(name, "ddpm"), data=data, protocol=p) for p in protocols]
    if row in (GRABCUT, *PRIOR_KINDS):
        if row not in baselines:
            return []
        return [L.baseline_csv(data=data, res=res, kind=row, protocol=p) for p in protocols]
    if row == "supervised":
        if row not in baselines:
            return []
        return [L.supervised_csv(data=data, res=res, split=ev["split"])]
    raise ValueError(
        f"table {n}: row {row!r} of fdiff.report.specs.SPECS has no result files in the "
        "workflow: add it to row_files (fdiff/plan/targets.py)"
    )


def table_pairs(plan: Plan, n: int) -> list[tuple[str, str]]:
    """(KEY, PATH) of every result file that table n reads (`fdiff table N --input KEY=PATH`):
    the key is the row (SPECS[n]), and for Table 5 ROW@EXPERIMENT."""
    L = plan.layout
    if n == 5:
        pairs = []
        for name, exp in plan.experiments.items():
            for arch in table_rows(5):
                if arch not in exp["archs"]:
                    continue
                if exp["fid"]:
                    pairs.append((f"{arch}@{name}", L.fid(**L.run(name, arch))))
                if exp["consistency"]:
                    pairs.append((f"{arch}@{name}", L.consistency(**L.run(name, arch))))
        return pairs
    table = plan.config["tables"].get(f"table{n}") or {}
    name, data = table.get("experiment"), table.get("data")
    if name is None:
        return []
    if n == 6:
        # Default: the experiment's first evaluation.
        data = data or (plan.eval_datasets(name) or [None])[0]
    pairs = []
    for row in table_rows(n):
        files = row_files(plan, n, row, name, data)
        # Table 7 shows one protocol: the evaluation's first.
        pairs += [(row, f) for f in (files[:1] if n == 7 else files)]
    return pairs


# --- the figures ----------------------------------------------------------------------------


def figure_names(plan: Plan) -> list[str]:
    """Every figure of the configured experiments (its name under RESULTS/figures)."""
    out = []
    for name, exp in plan.experiments.items():
        if "factorized" not in exp["archs"]:
            continue
        out += [f"generation-{name}", f"mask-channels-{name}", f"trajectory-{name}"]
        if exp["model"].get("num_classes", 0) > 0:
            out.append(f"class-grid-{name}")
        for ev in exp["evaluations"]:
            out.append(f"segmentation-{name}-{ev['data']}")
            if ev["tsweep"]:
                out.append(f"tsweep-{name}-{ev['data']}")
    for name, exp in plan.experiments.items():
        if "hierarchical" in exp["archs"]:
            out.append(f"hierarchy-{name}")
    figures = plan.config["figures"]
    if figures["real_segmentation"]["experiment"]:
        out.append(f"real-segmentation-{figures['real_segmentation']['experiment']}")
    if figures["interpolation"]["experiment"]:
        out.append(f"interpolation-{figures['interpolation']['experiment']}")
    if plan.experiments:
        out.append("loss-curves")
    return out


def figure_files(plan: Plan) -> list[str]:
    """Every figure's PNG (its PDF is written next to it)."""
    return [plan.layout.figure_png(figure=f) for f in figure_names(plan)]


def segmentation_masks(plan: Plan, name: str, data: str) -> list[str]:
    """The masks a segmentation figure shows: the trained model's, and the shipped model's
    beside them when there is one (labelled by Plan.pred_labels)."""
    L = plan.layout
    split = plan.eval_spec(data, plan.experiments[name]["res"])["split"]
    return [
        L.seg_h5(**L.run(name, a), data=data, split=split)
        for a in ["factorized", PRETRAINED]
        if a in plan.seg_archs(name)
    ]


def loss_pairs(plan: Plan) -> list[tuple[str, str]]:
    """(RUN, metrics.csv) of every training run, for the loss-curves figure."""
    L = plan.layout
    return [
        (f"{name}/{arch}", L.metrics(**L.run(name, arch)))
        for name in plan.experiments
        for arch in plan.all_archs(name)
    ]
