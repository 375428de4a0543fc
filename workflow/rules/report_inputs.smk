# Inputs of the tables and figures of report.smk: which result files each one reads.

# --- inputs of the tables ------------------------------------------------------------------
# A table's rows are fdiff's table specs (fdiff.report.specs.SPECS); `row_files` maps each row
# key to its result files, and fails on a row it does not know.

from fdiff.report.specs import QUOTED, SPECS


def _table(key):
    t = config["tables"].get(key) or {}
    return t.get("experiment"), t.get("data")


def table_rows(n):
    """The computed rows of table n (their keys), in the table's order."""
    return [r.key for r in SPECS[n].rows if r.key != QUOTED]


def row_files(n, row, name, data):
    """The result files of row `row` of table n on the evaluation of experiment `name` on
    `data`: one eval-seg CSV per protocol (Table 7: the factorized model's per-class CSV where
    the evaluation writes one), and the FID JSON of a model row of a table with an FID column.
    [] where the row is not configured."""
    exp = EXPERIMENTS[name]
    # data None: Table 6 of an experiment without evaluations (its FID column only).
    ev = None if data is None and n == 6 else evaluation(name, data)
    protocols = ev["protocols"] if ev else []
    baselines = ev["baselines"] if ev else []
    res = exp["res"]
    if row in FACTORIZED_ARCHS:  # the trained factorized archs and the shipped model
        if row not in seg_archs(name):
            return []
        classes = n == 7 and row == "factorized" and ev and ev["per_class"]
        suffix = "-classes" if classes else ""
        out = [f"{run_dir(name, row)}/seg/{data}-{p}{suffix}.csv" for p in protocols]
        if "fid" in SPECS[n].metrics and exp["fid"] and row != PRETRAINED:
            out.append(f"{run_dir(name, row)}/fid.json")
        return out
    if row == "kmeans":
        if "kmeans" not in baselines or "ddpm" not in all_archs(name):
            return []
        return [f"{run_dir(name, 'ddpm')}/seg/{data}-kmeans-{p}.csv" for p in protocols]
    if row in ("grabcut", *PRIOR_KINDS):
        if row not in baselines:
            return []
        return [f"{R}/baselines/{data}-{res}/{row}-{p}.csv" for p in protocols]
    if row == "supervised":
        if row not in baselines:
            return []
        return [f"{R}/supervised/{data}-{res}/seg-{ev['split']}.csv"]
    raise ValueError(
        f"table {n}: row {row!r} of fdiff.report.specs.SPECS has no result files in the "
        "workflow: add it to row_files (workflow/rules/report_inputs.smk)"
    )


def table_pairs(n):
    """(KEY, PATH) of every result file that table n reads (`fdiff table N --input KEY=PATH`):
    the key is the row (SPECS[n]), and for Table 5 ROW@EXPERIMENT."""
    if n == 5:
        pairs = []
        for name, exp in EXPERIMENTS.items():
            for arch in table_rows(5):
                if arch not in exp["archs"]:
                    continue
                if exp["fid"]:
                    pairs.append((f"{arch}@{name}", f"{run_dir(name, arch)}/fid.json"))
                if exp["consistency"]:
                    pairs.append(
                        (f"{arch}@{name}", f"{run_dir(name, arch)}/consistency.json")
                    )
        return pairs
    name, data = _table(f"table{n}")
    if name is None:
        return []
    if n == 6:
        # Default: the experiment's first evaluation.
        data = data or (eval_datasets(name) or [None])[0]
    pairs = []
    for row in table_rows(n):
        files = row_files(n, row, name, data)
        # Table 7 shows one protocol: the evaluation's first.
        pairs += [(row, f) for f in (files[:1] if n == 7 else files)]
    return pairs


def input_args(pairs, flag="--input"):
    return " ".join(f"{flag} {shlex.quote(f'{k}={v}')}" for k, v in pairs)


# --- inputs of the figures -------------------------------------------------------------------


def figure_files():
    """Every figure of the configured experiments (PNG; the PDF is written next to it)."""
    out = []
    for name, exp in EXPERIMENTS.items():
        if "factorized" not in exp["archs"]:
            continue
        out += [
            f"{R}/figures/generation-{name}.png",
            f"{R}/figures/mask-channels-{name}.png",
            f"{R}/figures/trajectory-{name}.png",
        ]
        if exp["model"].get("num_classes", 0) > 0:
            out.append(f"{R}/figures/class-grid-{name}.png")
        for ev in exp["evaluations"]:
            out.append(f"{R}/figures/segmentation-{name}-{ev['data']}.png")
            if ev["tsweep"]:
                out.append(f"{R}/figures/tsweep-{name}-{ev['data']}.png")
    for name, exp in EXPERIMENTS.items():
        if "hierarchical" in exp["archs"]:
            out.append(f"{R}/figures/hierarchy-{name}.png")
    real = config["figures"]["real_segmentation"]["experiment"]
    if real:
        out.append(f"{R}/figures/real-segmentation-{real}.png")
    if config["figures"]["interpolation"]["experiment"]:
        out.append(
            f"{R}/figures/interpolation-{config['figures']['interpolation']['experiment']}.png"
        )
    if EXPERIMENTS:
        out.append(f"{R}/figures/loss-curves.png")
    return out


FIG = f"{R}/figures"
FIG_RESOURCES = dict(mem_mb=CPU_RES["mem_mb"], runtime=CPU_RES["runtime"])


def loss_pairs():
    return [
        (f"{name}/{arch}", f"{run_dir(name, arch)}/metrics.csv")
        for name in EXPERIMENTS
        for arch in all_archs(name)
    ]
