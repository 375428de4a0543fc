"""Tables 1-7 of the paper as :class:`Table` objects, built from result files.

A table is laid out like the paper's. Its inputs are result files named by *key*:

- Tables 1-4 and 6: the key is the row (``grabcut``, ``supervised``, ``kmeans``, ``concat``,
  ``mask_hmid``, ``unshared``, ``factorized``; ``ours`` is an alias of ``factorized``); a row's
  files (eval-seg CSV, fid JSON) fill its metric columns. Several eval-seg files of one row with
  different region-assignment protocols become one row per protocol.
- Table 5: the key is ``ROW@EXPERIMENT`` (``ddpm@cub-128``, ``factorized@cub-128``) with a fid
  JSON and/or a consistency JSON; the paper's seven experiments are always columns, others
  (the demo's) are added after them.
- Table 7: the key is the row (``factorized``) with a per-class CSV; the columns are the 20
  VOC classes and their mean.

Rows quoted from publications come from the literature CSV (marked as quoted: ``source`` in the
CSV, a dagger in LaTeX), and only when the computed rows are on the paper's dataset. A row or
cell without a result file shows "-": nothing is ever filled in from elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fdiff.errors import FdiffError
from fdiff.report.results import (
    HIGHER_IS_BETTER,
    SEG_METRICS,
    QuotedRow,
    Result,
    read_literature,
    read_result,
)

QUOTED = "__quoted__"  # where a table's quoted rows go
ALIASES = {"ours": "factorized"}

METRIC_HEADERS = {
    "acc": "Acc.",
    "iou": "IoU",
    "dice": "DICE",
    "miou": "mIoU",
    "fid": "FID",
    "kid": "KID",
    "consistency": "Acc.",
}
DATASET_NAMES = {
    "flowers": "Flower",
    "cub": "CUB",
    "ffhq": "FFHQ",
    "celebamask": "CelebA",
    "imagenet": "ImageNet",
    "pixel-imagenet": "ImageNet",
    "voc": "VOC",
    "shapes": "Shapes",
}
PAPER_EXPERIMENTS = (
    "flowers-64",
    "flowers-128",
    "cub-64",
    "cub-128",
    "ffhq-64",
    "ffhq-128",
    "imagenet-64",
)
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


@dataclass(frozen=True)
class RowSpec:
    """A computed row: its input key, its plain label and its LaTeX label."""

    key: str
    label: str
    latex: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """The layout of one of the paper's tables."""

    number: int
    title: str  # the paper's caption
    paper_dataset: str | None  # dataset of the paper's table (quoted rows are about it)
    rows: tuple[RowSpec, ...]
    metrics: tuple[str, ...]  # columns (Tables 1-4, 6) or row groups (Tables 5, 7)
    columns: tuple[str, ...] = ()  # Tables 5 and 7: the fixed columns


_GRABCUT = RowSpec("grabcut", "GrabCut [48]")
_SUPERVISED = RowSpec("supervised", "Supervised UNet")
_KMEANS = RowSpec("kmeans", "DatasetDDPM-unsup. [2]")
_OURS = RowSpec("factorized", "Ours")
_QUOTED = RowSpec(QUOTED, "")

SPECS: dict[int, TableSpec] = {
    1: TableSpec(1, "Comparisons on Flower.", "flowers", (_GRABCUT, _QUOTED, _OURS),
                 ("acc", "iou", "dice")),
    2: TableSpec(2, "Comparisons on CUB.", "cub", (_GRABCUT, _QUOTED, _OURS),
                 ("acc", "iou", "dice")),
    3: TableSpec(3, "Seg. Comparisons on CelebA.", "celebamask",
                 (_SUPERVISED, _KMEANS, _QUOTED, _OURS), ("acc", "miou")),
    4: TableSpec(4, "Seg. Comparisons on ImageNet.", "pixel-imagenet",
                 (_SUPERVISED, _KMEANS, _QUOTED, _OURS), ("acc", "miou")),
    5: TableSpec(5, "Image and mask generation comparison on all datasets "
                 "(upper: FID (lower is better), bottom: Acc. (higher is better)).", None,
                 (RowSpec("ddpm", "DDPM"), _OURS), ("fid", "consistency"), PAPER_EXPERIMENTS),
    6: TableSpec(6, "Ablations of Decoding Scheme on CUB.", "cub",
                 (RowSpec("concat", "Concat"),
                  RowSpec("mask_hmid", "Masking h_mid", r"Masking $h_{mid}$"),
                  RowSpec("unshared", "w/o weight sharing"), _QUOTED, _OURS), ("iou", "fid")),
    7: TableSpec(7, "Zero-shot transfer from ImageNet to VOC (class label mapping): accuracy "
                 "and mIoU per class on the VOC validation set.", "voc", (_OURS,),
                 ("acc", "miou"), (*VOC_CLASSES, "mean")),
}  # fmt: skip


@dataclass(frozen=True)
class Table:
    """A finished table: values in display units (percent; FID as is), NaN = "-".

    ``values``: rows x columns. ``metric``: the metric of every cell (direction and format).
    ``rows``: per row ``label``, ``latex`` label, ``source`` ("computed" or "quoted: ...") and
    ``group`` ("" when the table has no row groups).
    """

    number: int
    caption: str
    values: pd.DataFrame
    metric: pd.DataFrame
    rows: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def grouped(self) -> bool:
        return bool((self.rows["group"] != "").any())

    def best(self) -> pd.DataFrame:
        """Boolean mask of the best value of each column (within each row group).

        Compared at display precision, so ties are all bold; a column (group) with fewer than
        two values has no best.
        """
        out = pd.DataFrame(False, index=self.values.index, columns=self.values.columns)
        for _, idx in self.rows.groupby("group", sort=False).groups.items():
            for col in self.values.columns:
                shown = pd.Series(
                    {
                        i: round(float(self.values.at[i, col]), decimals(self.metric.at[i, col]))
                        for i in idx
                    },
                    dtype=float,
                ).dropna()
                if len(shown) < 2:
                    continue
                higher = HIGHER_IS_BETTER[self.metric.at[shown.index[0], col]]
                target = shown.max() if higher else shown.min()
                out.loc[shown.index[shown == target], col] = True
        return out


def decimals(metric: str) -> int:
    """Digits after the point, as the paper prints them."""
    return 2 if metric in ("fid", "kid") else 1


def canonical_key(key: str) -> str:
    row, _, col = key.partition("@")
    row = ALIASES.get(row, row)
    return f"{row}@{col}" if col else row


def display_value(metric: str, value: float) -> float:
    """Fractions of segmentation metrics -> percent; FID/KID unchanged."""
    return 100.0 * value if metric in SEG_METRICS or metric == "consistency" else value


# -- captions -----------------------------------------------------------------------------------


def _assignment_text(p: Mapping[str, object], multiclass: bool) -> str:
    if p.get("protocol") == "fixed":
        fit = p.get("fit_split") or p.get("split")
        how = "Hungarian matching of regions to classes" if multiclass else "one foreground set"
        assign = p.get("assignment")
        return f"{how} fixed for the whole split ({assign}, chosen on {fit})"
    if multiclass:
        return "Hungarian matching of regions to classes per image"
    return "per image (best subset of regions as foreground, IEM's flip)"


def seg_protocol_text(r: Result) -> str:
    """One clause describing how a segmentation result was obtained."""
    p = r.protocol
    parts = [f"{p.get('n', '?')} {p.get('split', '?')} images"]
    if r.dataset:
        parts[0] += f" of {DATASET_NAMES.get(r.dataset, r.dataset)}"
    if p.get("t") is not None:
        parts.append(f"one-step segmentation at t = {p['t']}")
    if p.get("num_regions"):
        parts.append(f"K = {p['num_regions']} regions")
    parts.append("region assignment " + _assignment_text(p, "miou" in r.metrics))
    return ", ".join(parts)


def sample_protocol_text(r: Result) -> str:
    p = r.protocol
    if r.kind == "fid":
        return (
            f"FID of {p.get('n_samples', '?')} samples ({p.get('sampler', '?')} sampler, "
            f"{p.get('steps', '?')} steps) against the {p.get('ref_split', '?')} split"
        )
    n = p.get("n_samples", p.get("n", "?"))
    return (
        f"mask accuracy of {n} generated images against a supervised U-Net's masks of "
        "the same images"
    )


def _caption(spec: TableSpec, clauses: dict[str, list[str]], notes: list[str], title: str) -> str:
    text = [f"Table {spec.number}: {title}"]
    for clause, labels in clauses.items():
        text.append(f"{', '.join(dict.fromkeys(labels))}: {clause}.")
    text += notes
    return " ".join(text)


# -- builders -----------------------------------------------------------------------------------


def _protocol_name(r: Result) -> str:
    return str(r.protocol.get("protocol") or "")


def _read_inputs(spec: TableSpec, inputs: Mapping[str, Sequence[str | Path]]) -> dict:
    grouped = spec.number in (5,)
    known = {r.key for r in spec.rows if r.key != QUOTED}
    out: dict[str, list[Result]] = {}
    for raw_key, paths in inputs.items():
        key = canonical_key(raw_key)
        row, _, col = key.partition("@")
        if row not in known or bool(col) != grouped:
            want = "ROW@EXPERIMENT" if grouped else "ROW"
            raise FdiffError(
                f"table {spec.number}: input key {raw_key!r}: expected {want} with ROW one of "
                f"{', '.join(sorted(known))}"
            )
        out.setdefault(key, []).extend(read_result(p) for p in paths)
    return out


def _dataset_of(results: Mapping[str, list[Result]]) -> str | None:
    names = {r.dataset for rs in results.values() for r in rs if r.dataset}
    if len(names) > 1:
        raise FdiffError(f"result files are on several datasets ({', '.join(sorted(names))})")
    return next(iter(names), None)


def _title(spec: TableSpec, dataset: str | None) -> tuple[str, bool]:
    """The caption's title, and whether quoted rows (about the paper's dataset) belong."""
    if dataset is None or spec.paper_dataset is None or dataset == spec.paper_dataset:
        return spec.title, True
    paper = DATASET_NAMES.get(spec.paper_dataset, spec.paper_dataset)
    return (
        f"{spec.title[:-1]} layout, on {DATASET_NAMES.get(dataset, dataset)} instead of {paper}.",
        False,
    )


def build_method_table(
    spec: TableSpec,
    inputs: Mapping[str, Sequence[str | Path]],
    literature: str | Path | None = None,
) -> Table:
    """Tables 1-4 and 6: one row per method (and protocol), one column per metric."""
    results = _read_inputs(spec, inputs)
    dataset = _dataset_of(results)
    title, quote = _title(spec, dataset)
    quoted = read_literature(literature, spec.number) if literature and quote else []
    protocols = {
        _protocol_name(r) for rs in results.values() for r in rs if r.kind in ("seg", "per_class")
    }
    suffix = len(protocols) > 1
    records: list[dict] = []
    clauses: dict[str, list[str]] = {}
    for rs in spec.rows:
        if rs.key == QUOTED:
            records += [_quoted_record(q) for q in quoted]
            continue
        res = results.get(rs.key, [])
        seg = [r for r in res if r.kind in ("seg", "per_class")]
        other = [r for r in res if r.kind not in ("seg", "per_class")]
        by_protocol: dict[str, Result] = {}
        for r in seg:
            name = _protocol_name(r)
            if name in by_protocol:
                raise FdiffError(
                    f"table {spec.number}: {r.path} and {by_protocol[name].path}: two results "
                    f"for row {rs.key!r} with protocol {name!r}; expected one"
                )
            by_protocol[name] = r
        extra: dict[str, float] = {}
        for r in other:
            extra.update(r.metrics)
            clauses.setdefault(sample_protocol_text(r), []).append(rs.label)
        for name, r in (by_protocol or {"": None}).items():
            tag = f" ({name.replace('_', '-')})" if suffix and name else ""
            label, latex = rs.label + tag, (rs.latex or rs.label) + tag
            values = dict(extra)
            if r is not None:
                values.update(r.metrics)
                clauses.setdefault(seg_protocol_text(r), []).append(label)
            records.append(
                {
                    "label": label,
                    "latex": latex,
                    "source": "computed" if r is not None or extra else "not run",
                    "group": "",
                    "values": {m: values.get(m) for m in spec.metrics},
                }
            )
    notes = []
    if quoted:
        notes.append("Rows marked with a dagger are quoted from the cited papers, not recomputed.")
    elif literature and not quote:
        notes.append(
            f"Rows quoted from the literature are left out: they are on "
            f"{DATASET_NAMES.get(spec.paper_dataset, spec.paper_dataset)}."
        )
    notes.append('"-": not run in this configuration, or not reported.')
    values = pd.DataFrame(
        [
            {m: np.nan if rec["values"].get(m) is None else _display(rec, m) for m in spec.metrics}
            for rec in records
        ],
        columns=list(spec.metrics),
    )
    metric = pd.DataFrame([list(spec.metrics)] * len(records), columns=list(spec.metrics))
    rows = pd.DataFrame(
        [{k: rec[k] for k in ("label", "latex", "source", "group")} for rec in records]
    )
    headers = [METRIC_HEADERS[m] for m in spec.metrics]
    values.columns = metric.columns = headers
    return Table(spec.number, _caption(spec, clauses, notes, title), values, metric, rows)


def _display(rec: dict, m: str) -> float:
    v = float(rec["values"][m])
    return v if rec["source"].startswith("quoted") else display_value(m, v)


def _quoted_record(q: QuotedRow) -> dict:
    cite = f" {q.citation}" if q.citation else ""
    return {
        "label": q.method,
        "latex": q.method + r"$^\dagger$",
        "source": f"quoted:{cite}".rstrip(":") if cite else "quoted",
        "group": "",
        "values": dict(q.values),
    }


def _column_name(experiment: str) -> str:
    ds, _, res = experiment.rpartition("-")
    if not ds:
        return experiment
    return f"{DATASET_NAMES.get(ds, ds)}-{res}"


def build_grouped_table(spec: TableSpec, inputs: Mapping[str, Sequence[str | Path]]) -> Table:
    """Tables 5 and 7: row groups per metric, one row per method, fixed columns."""
    results = _read_inputs(spec, inputs)
    clauses: dict[str, list[str]] = {}
    cells: dict[tuple[str, str], dict[str, float]] = {}  # (row key, column) -> metrics
    if spec.number == 5:
        columns = list(spec.columns)
        for key, rs in results.items():
            row, _, col = key.partition("@")
            if col not in columns:
                columns.append(col)
            for r in rs:
                if r.kind not in ("fid", "consistency"):
                    raise FdiffError(
                        f"table 5: {r.path}: expected a fid or consistency JSON for {key!r}"
                    )
                cells.setdefault((row, col), {}).update(r.metrics)
                label = next(x.label for x in spec.rows if x.key == row)
                clauses.setdefault(sample_protocol_text(r), []).append(f"{label} {col}")
        headers = [_column_name(c) for c in columns]
        title = spec.title
    else:
        columns = list(spec.columns)
        title, _ = _title(spec, _dataset_of(results))
        for key, rs in results.items():
            for r in rs:
                if r.kind != "per_class":
                    raise FdiffError(
                        f"table 7: {r.path}: expected a per-class CSV (a 'class' column)"
                    )
                unknown = sorted(set(r.per_class) - set(columns))
                if unknown:
                    raise FdiffError(
                        f"table 7: {r.path}: class {unknown[0]!r}: expected VOC class names "
                        f"({', '.join(VOC_CLASSES)})"
                    )
                for c, m in r.per_class.items():
                    cells.setdefault((key, c), {}).update(m)
                cells.setdefault((key, "mean"), {}).update(r.metrics)
                label = next(x.label for x in spec.rows if x.key == key)
                clauses.setdefault(seg_protocol_text(r), []).append(label)
        headers = list(columns)
    records, metric_rows = [], []
    for m in spec.metrics:
        for rs in spec.rows:
            vals = [cells.get((rs.key, c), {}).get(m) for c in columns]
            records.append(
                {
                    "label": rs.label,
                    "latex": rs.latex or rs.label,
                    "source": "computed" if any(v is not None for v in vals) else "not run",
                    "group": f"{METRIC_HEADERS[m]} ({'higher' if HIGHER_IS_BETTER[m] else 'lower'}"
                    " is better)",
                    "values": [np.nan if v is None else display_value(m, v) for v in vals],
                }
            )
            metric_rows.append([m] * len(columns))
    values = pd.DataFrame([r["values"] for r in records], columns=headers)
    metric = pd.DataFrame(metric_rows, columns=headers)
    rows = pd.DataFrame([{k: r[k] for k in ("label", "latex", "source", "group")} for r in records])
    notes = ['"-": not run in this configuration.']
    return Table(spec.number, _caption(spec, clauses, notes, title), values, metric, rows)


def build_table(
    number: int,
    inputs: Mapping[str, Sequence[str | Path]],
    literature: str | Path | None = None,
) -> Table:
    """Table ``number`` (1-7) from result files named by key (see the module docstring)."""
    if number not in SPECS:
        raise FdiffError(f"table {number}: expected one of 1-7")
    spec = SPECS[number]
    if number in (5, 7):
        return build_grouped_table(spec, inputs)
    return build_method_table(spec, inputs, literature)
