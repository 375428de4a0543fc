"""The result-path registry: where every file of the plan lands under RESULTS (config
`results`), written once here. The rules take their output and input patterns from it, the
targets and the tables' and figures' inputs their concrete paths.

Each path is a template over named fields. A field given is filled in; a field left out stays
`{field}`, a Snakemake wildcard, so one template serves the rule and its targets:

    >>> Layout("R").seg_csv(data="cub", protocol="fixed")
    'R/{dataset}-{res}/{arch}/seg/cub-fixed.csv'
"""

from __future__ import annotations

import re

from fdiff.training import rundir

# RESULTS-relative templates. A run directory (RUN_DIR) is one experiment's arch; the names of
# the files training writes in it are fdiff.training.rundir's.
RUN_DIR = "{dataset}-{res}/{arch}"
TEMPLATES = {
    # datasets
    "raw_ready": "raw/.ready/{dataset}",
    "data_h5": "data/{dataset}-{res}.h5",
    # a training run (its state files are fdiff/training/rundir.py's)
    "run_dir": RUN_DIR,
    "run_yaml": f"{RUN_DIR}/{rundir.RUN_CONFIG}",
    "model": f"{RUN_DIR}/{rundir.MODEL}",
    "metrics": f"{RUN_DIR}/{rundir.METRICS}",
    # samples
    "shard": RUN_DIR + "/samples/shard-{shard}.h5",
    "samples": RUN_DIR + "/samples.h5",
    "samples_figure": RUN_DIR + "/samples-figure.h5",
    "samples_kmeans": RUN_DIR + "/samples-kmeans.h5",
    "interpolation": RUN_DIR + "/interpolation.h5",
    # a model's segmentations and their scores
    "seg_h5": RUN_DIR + "/seg/{data}-{split}.h5",
    "seg_csv": RUN_DIR + "/seg/{data}-{protocol}.csv",
    "seg_classes_csv": RUN_DIR + "/seg/{data}-{protocol}-classes.csv",
    "kmeans_h5": RUN_DIR + "/seg/{data}-kmeans-{split}.h5",
    "kmeans_csv": RUN_DIR + "/seg/{data}-kmeans-{protocol}.csv",
    "tsweep": RUN_DIR + "/tsweep-{data}.csv",
    "fid": RUN_DIR + "/fid.json",
    "consistency": RUN_DIR + "/consistency.json",
    # baselines that read no model (grabcut and the priors: {kind})
    "baseline_h5": "baselines/{data}-{res}/{kind}-{split}.h5",
    "baseline_csv": "baselines/{data}-{res}/{kind}-{protocol}.csv",
    "supervised_dir": "supervised/{data}-{res}",
    "supervised_model": f"supervised/{{data}}-{{res}}/{rundir.MODEL}",
    "supervised_h5": "supervised/{data}-{res}/seg-{split}.h5",
    "supervised_csv": "supervised/{data}-{res}/seg-{split}.csv",
    # any of the score CSVs above, as the one scoring rule writes them ({scored}: the prefix of
    # SCORED_PREFIXES that its segmentation file has; {classes}: "" or CLASSES_SUFFIX)
    "scores": "{scored}-{protocol}{classes}.csv",
    # the report
    "table_csv": "tables/table{n}.csv",
    "table_tex": "tables/table{n}.tex",
    "figure_png": "figures/{figure}.png",
    "figure_pdf": "figures/{figure}.pdf",
    "status": "status.txt",
    "fid_cache": "cache/fid-stats",
    # every job's log and benchmark: one folder per rule, one file per job ({job}: its wildcards)
    "log": "logs/{rule}/{job}.log",
    "benchmark": "benchmarks/{rule}/{job}.tsv",
}

# A scored segmentation file is {prefix}-{split}.h5 and its score {prefix}-{protocol}.csv,
# {prefix}-{protocol}-classes.csv for the per-class scores: the one scoring rule matches
# {scored}, the prefix relative to RESULTS, and reads dataset and resolution back from it.
SCORED_PREFIXES = (
    RUN_DIR + "/seg/{data}",
    RUN_DIR + "/seg/{data}-kmeans",
    "baselines/{data}-{res}/{kind}",
)
CLASSES_SUFFIX = "-classes"

# The fields' patterns (also the rules' wildcard constraints).
FIELD_PATTERNS = {
    "dataset": "[a-z0-9]+",
    "data": "[a-z0-9]+",
    "res": "[0-9]+",
    "split": "[a-z]+",
    "protocol": "per_image|fixed",
}


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, **fields: object) -> str:
    """`template` with `fields` filled in and every other field left as `{field}`."""
    return template.format_map(_KeepMissing(fields))


class Layout:
    """The registry bound to one RESULTS directory: `layout.NAME(**fields)` is the path of
    TEMPLATES[NAME]; `layout.run(name)` the fields of experiment `name`'s run directory."""

    def __init__(self, results: str):
        self.results = str(results)

    def path(self, name: str, **fields: object) -> str:
        return f"{self.results}/{fill(TEMPLATES[name], **fields)}"

    def __getattr__(self, name: str):
        if name not in TEMPLATES:
            raise AttributeError(name)
        return lambda **fields: self.path(name, **fields)

    @staticmethod
    def run(name: str, arch: str | None = None) -> dict[str, str]:
        """The template fields of experiment `name`, and of one arch (fdiff.plan.checks holds
        every experiment to the name `dataset-res`)."""
        dataset, res = name.rsplit("-", 1)
        return {"dataset": dataset, "res": res, **({"arch": arch} if arch else {})}

    def log(self, rule: str, job: str = "") -> str:
        """The log of one job of `rule`; `job` names its wildcards (`{dataset}-{res}`), empty:
        the rule runs once and its log is logs/RULE.log."""
        if not job:
            return f"{self.results}/logs/{rule}.log"
        return self.path("log", rule=rule, job=job)

    def benchmark(self, rule: str, job: str) -> str:
        return self.path("benchmark", rule=rule, job=job)

    def figure(self, figure: str) -> tuple[str, str]:
        """(PNG, PDF) of one figure: its name's two files."""
        return self.figure_png(figure=figure), self.figure_pdf(figure=figure)

    # --- the scoring rule's {scored} prefix ----------------------------------------------

    @staticmethod
    def scored_pattern(archs: list[str], kinds: list[str]) -> str:
        """The regex of {scored}: a prefix of SCORED_PREFIXES, RESULTS-relative."""
        fields = {**FIELD_PATTERNS, "arch": "|".join(archs), "kind": "|".join(kinds)}
        return "|".join(f"(?:{_regex(p, fields, named=False)})" for p in SCORED_PREFIXES)

    @staticmethod
    def scored_fields(scored: str) -> dict[str, str]:
        """The fields (data, res, ...) of a RESULTS-relative {scored} prefix."""
        fields = {**FIELD_PATTERNS, "arch": "[a-z_]+", "kind": "[a-z_]+"}
        for prefix in SCORED_PREFIXES:
            m = re.fullmatch(_regex(prefix, fields, named=True), scored)
            if m:
                return m.groupdict()
        raise ValueError(f"{scored!r} is no scored segmentation prefix of {SCORED_PREFIXES}")


def _regex(template: str, fields: dict[str, str], named: bool) -> str:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos : m.start()]))
        group = f"?P<{m.group(1)}>" if named else "?:"
        out.append(f"({group}{fields[m.group(1)]})")
        pos = m.end()
    return "".join(out) + re.escape(template[pos:])
