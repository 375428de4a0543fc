"""Tables 1-7 of the paper as :class:`Table` objects, built from result files.

A table is laid out like the paper's. Its inputs are result files named by *key*:

- Tables 1-4 and 6: the key is the row (``grabcut``, ``supervised``, ``kmeans``, ``concat``,
  ``mask_hmid``, ``unshared``, ``factorized``; ``ours`` is an alias of ``factorized``); a row's
  files (eval-seg CSV, fid JSON) fill its metric columns. Several eval-seg files of one row with
  different region-assignment protocols become one row per protocol. Tables 1, 2 and 6 also
  take the trivial and colour baselines of :mod:`fdiff.baselines.priors` (keys ``disc``,
  ``all_foreground``, ``kmeans_rgb``); those rows appear only when they have a file.
- Table 5: the key is ``ROW@EXPERIMENT`` (``ddpm@cub-128``, ``factorized@cub-128``) with a fid
  JSON and/or a consistency JSON; the paper's seven experiments are always columns, others
  (the demo's) are added after them.
- Table 7: the key is the row (``factorized``) with a per-class CSV (eval-seg columns plus
  ``class``, one row per VOC class); the columns are the 20 VOC classes and their mean. A plain
  one-row eval-seg CSV fills the mean only.

Rows quoted from publications come from the literature CSV (marked as quoted: ``source`` in the
CSV, a dagger in LaTeX), and only when the computed rows are on the paper's dataset. A row or
cell without a result file shows "-": nothing is ever filled in from elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fdiff.data.sources.voc import CLASSES as VOC_LABELS
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
ALIASES = {"ours": "factorized", "all-foreground": "all_foreground", "kmeans-rgb": "kmeans_rgb"}

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
VOC_CLASSES = VOC_LABELS[1:]  # Table 7 columns: every class but background


@dataclass(frozen=True)
class RowSpec:
    """A computed row: its input key, its plain label and its LaTeX label."""

    key: str
    label: str
    latex: str | None = None
    optional: bool = False  # left out of the table when no file feeds it


@dataclass(frozen=True)
class TableSpec:
    """The layout of one of the paper's tables."""

    number: int
    title: str  # the paper's caption without "on DATASET." (Table 5: the whole caption)
    paper_dataset: str | None  # dataset of the paper's table (quoted rows are about it)
    rows: tuple[RowSpec, ...]
    metrics: tuple[str, ...]  # columns (Tables 1-4, 6) or row groups (Tables 5, 7)
    columns: tuple[str, ...] = ()  # Tables 5 and 7: the fixed columns


_GRABCUT = RowSpec("grabcut", "GrabCut")
_SUPERVISED = RowSpec("supervised", "Supervised UNet")
_KMEANS = RowSpec("kmeans", "DatasetDDPM-unsup")
_OURS = RowSpec("factorized", "Ours")
# A shipped or released model evaluated beside the run's own (config key `pretrained`).
_SHIPPED = RowSpec("pretrained", "Ours, shipped checkpoint", optional=True)
# The trivial and colour baselines (fdiff.baselines.priors): shown only when computed.
_PRIORS = (
    RowSpec("disc", "Centred disc", optional=True),
    RowSpec("all_foreground", "All foreground", optional=True),
    RowSpec("kmeans_rgb", "K-means on RGB", optional=True),
)
_QUOTED = RowSpec(QUOTED, "")

SPECS: dict[int, TableSpec] = {
    1: TableSpec(1, "Comparisons", "flowers", (*_PRIORS, _GRABCUT, _OURS, _SHIPPED, _QUOTED),
                 ("acc", "iou", "dice")),
    2: TableSpec(2, "Comparisons", "cub", (*_PRIORS, _GRABCUT, _OURS, _SHIPPED, _QUOTED),
                 ("acc", "iou", "dice")),
    3: TableSpec(3, "Seg. Comparisons", "celebamask",
                 (_SUPERVISED, _KMEANS, _OURS, _QUOTED), ("acc", "miou")),
    4: TableSpec(4, "Seg. Comparisons", "pixel-imagenet",
                 (_SUPERVISED, _KMEANS, _OURS, _QUOTED), ("acc", "miou")),
    5: TableSpec(5, "Image and mask generation comparison on all datasets "
                 "(upper: FID (lower is better), bottom: Acc. (higher is better)).", None,
                 (RowSpec("ddpm", "DDPM"), _OURS), ("fid", "consistency"), PAPER_EXPERIMENTS),
    6: TableSpec(6, "Ablations of Decoding Scheme", "cub",
                 (*_PRIORS, RowSpec("concat", "Concat"),
                  RowSpec("mask_hmid", "Masking h_mid", r"Masking $h_{mid}$"),
                  RowSpec("unshared", "w/o weight sharing"), _OURS, _QUOTED), ("iou", "fid")),
    7: TableSpec(7, "Zero-shot transfer from ImageNet by class label mapping: accuracy and "
                 "mIoU per class", "voc", (_OURS,),
                 ("acc", "miou"), (*VOC_CLASSES, "mean")),
}  # fmt: skip


@dataclass(frozen=True)
class Table:
    """A finished table: values in display units (percent; FID as is), NaN = "-".

    ``caption``: the table's title (the paper's caption and the dataset). ``notes``: lines
    under the table stating the protocol once per group of rows that share it, the dagger and
    the "-" conventions.

    ``values``: rows x columns. ``metric``: the metric of every cell (direction and format).
    ``rows``: per row ``label``, ``latex`` label, ``source`` ("computed" or "quoted: ...") and
    ``group`` ("" when the table has no row groups).
    """

    number: int
    caption: str  # a sentence or two; LaTeX adds "Table N:" itself
    values: pd.DataFrame
    metric: pd.DataFrame
    rows: pd.DataFrame
    notes: tuple[str, ...] = ()  # the protocol, once per group of rows (under the table)

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


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX text."""
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _LATEX_SPECIALS[m.group()], text)


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


ASSIGNMENT_NOTES = {
    ("per_image", False): "per-image: the best subset of the K regions is the foreground of each "
    "image (IEM's flip)",
    ("per_image", True): "per-image: regions matched to classes by the Hungarian algorithm in "
    "each image",
    ("fixed", False): "fixed: one subset of the K regions is the foreground of every image, "
    "chosen on the {fit} split",
    ("fixed", True): "fixed: one Hungarian matching of regions to classes for every image, "
    "chosen on the {fit} split",
}


def seg_protocol_parts(r: Result) -> dict[str, str]:
    """How a segmentation result was obtained, by aspect: ``data`` (images scored), ``method``
    (t, K) and ``assignment`` (the region-assignment protocol)."""
    p = r.protocol
    data = f"{p.get('n', '?')} {p.get('split', '?')} images"
    if r.dataset:
        data += f" of {DATASET_NAMES.get(r.dataset, r.dataset)}"
    out = {"data": f"scores on {data}"}
    method = []
    if p.get("t") is not None:
        method.append(f"one-step segmentation at t = {p['t']}")
    if p.get("num_regions") == 1:
        method.append("K = 1 region (every pixel foreground, under either protocol)")
    elif p.get("num_regions"):
        method.append(f"K = {p['num_regions']} regions")
    if method:
        out["method"] = ", ".join(method)
    name = str(p.get("protocol") or "")
    key = (name, "miou" in r.metrics)
    if key in ASSIGNMENT_NOTES and p.get("num_regions") != 1:
        fit = p.get("fit_split") or p.get("split") or "?"
        out["assignment"] = ASSIGNMENT_NOTES[key].format(fit=fit)
    return out


def seg_protocol_text(r: Result) -> str:
    """One clause describing how a segmentation result was obtained."""
    return "; ".join(seg_protocol_parts(r).values())


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


class Protocols:
    """The protocol clauses of a table's rows, collected by aspect, stated once per group.

    ``add(aspect, text, label)`` records that row ``label`` was obtained by ``text``;
    :meth:`notes` gives one line per distinct text of an aspect, naming the rows only when the
    rows of that aspect differ, or when a method clause holds for some rows only (never for the
    assignment: the row labels name it).
    """

    ASPECTS = ("data", "fid", "consistency", "method", "assignment")

    def __init__(self) -> None:
        self.by_aspect: dict[str, dict[str, list[str]]] = {a: {} for a in self.ASPECTS}

    def add(self, aspect: str, text: str, label: str) -> None:
        self.by_aspect[aspect].setdefault(text, []).append(label)

    def add_seg(self, r: Result, label: str) -> None:
        for aspect, text in seg_protocol_parts(r).items():
            self.add(aspect, text, label)

    def notes(self, all_labels: Sequence[str]) -> list[str]:
        out = []
        everyone = set(all_labels)
        for aspect in self.ASPECTS:
            groups = self.by_aspect[aspect]
            for text, labels in groups.items():
                labels = list(dict.fromkeys(labels))
                sentence = text[0].upper() + text[1:]
                once = len(groups) == 1 and (aspect != "method" or set(labels) >= everyone)
                if aspect == "assignment" or once:
                    out.append(f"{sentence}.")
                else:
                    out.append(f"{', '.join(labels)}: {text}.")
        return out


# -- builders -----------------------------------------------------------------------------------

# Datasets that count as the same for quoting (the literature names Pixel-ImageNet "imagenet").
SAME_DATASET = {"pixel-imagenet": "imagenet"}
LATEX_LABELS = {"Masking h_mid": r"Masking $h_{mid}$"}


def _same(a: str | None, b: str | None) -> bool:
    return SAME_DATASET.get(a, a) == SAME_DATASET.get(b, b)


def _protocol_name(r: Result) -> str:
    return str(r.protocol.get("protocol") or "")


def _read_inputs(spec: TableSpec, inputs: Mapping[str, Sequence[str | Path]]) -> dict:
    by_column = spec.number == 5
    known = {r.key for r in spec.rows if r.key != QUOTED}
    out: dict[str, list[Result]] = {}
    for raw_key, paths in inputs.items():
        key = canonical_key(raw_key)
        row, _, col = key.partition("@")
        if row not in known or bool(col) != by_column:
            want = "ROW@EXPERIMENT" if by_column else "ROW"
            raise FdiffError(
                f"table {spec.number}: input key {raw_key!r}: expected {want} with ROW one of "
                f"{', '.join(sorted(known))}"
            )
        out.setdefault(key, []).extend(read_result(p) for p in paths)
    return out


def _dataset_of(spec: TableSpec, results: Mapping[str, list[Result]]) -> str | None:
    names = {r.dataset for rs in results.values() for r in rs if r.dataset}
    if len(names) > 1:
        raise FdiffError(
            f"table {spec.number}: result files on several datasets ({', '.join(sorted(names))})"
            ": expected one"
        )
    return next(iter(names), None)


def _title(spec: TableSpec, dataset: str | None) -> str:
    if spec.paper_dataset is None:
        return spec.title
    paper = DATASET_NAMES.get(spec.paper_dataset, spec.paper_dataset)
    if dataset is None or _same(dataset, spec.paper_dataset):
        return f"{spec.title} on {paper}."
    here = DATASET_NAMES.get(dataset, dataset)
    return f"{spec.title} on {here} (the paper's Table {spec.number} is on {paper})."


def _record(label: str, latex: str, source: str, group: str, values, base: str = "") -> dict:
    """One row; ``base``: the row's label without the protocol tag (notes name rows by it)."""
    return {
        "label": label, "latex": latex, "source": source, "group": group, "values": values,
        "base": base or label,
    }  # fmt: skip


def _quoted_label(q: QuotedRow) -> tuple[str, str]:
    """A quoted row's plain and LaTeX labels: "METHOD (published)", with a dagger in LaTeX."""
    latex = LATEX_LABELS.get(q.method, latex_escape(q.method))
    return f"{q.method} (published)", latex + r" (published)$^\dagger$"


def _quoted_source(q: QuotedRow) -> str:
    return f"quoted: {q.citation}; from {q.quoted_from}"


def _finish(spec, records, metrics_of_cells, headers, protocols, notes, title) -> Table:
    values = pd.DataFrame([r["values"] for r in records], columns=headers, dtype=float)
    metric = pd.DataFrame(metrics_of_cells, columns=headers)
    rows = pd.DataFrame(
        [{k: r[k] for k in ("label", "latex", "source", "group")} for r in records],
        columns=["label", "latex", "source", "group"],
    )
    computed = [r["base"] for r in records if r["source"] == "computed"]
    lines = protocols.notes(computed)
    if (rows["source"].str.startswith("quoted")).any():
        lines.append(
            "Rows marked with a dagger are quoted from their papers (source column of the CSV), "
            "not recomputed."
        )
    lines += notes
    lines.append('"-": not run in this configuration, or not reported.')
    return Table(spec.number, title, values, metric, rows, tuple(lines))


def build_method_table(
    spec: TableSpec,
    inputs: Mapping[str, Sequence[str | Path]],
    literature: str | Path | None = None,
) -> Table:
    """Tables 1-4 and 6: one row per method (and protocol), one column per metric."""
    results = _read_inputs(spec, inputs)
    dataset = _dataset_of(spec, results)
    quoted = read_literature(literature, spec.number) if literature else []
    notes = []
    if dataset is not None:
        other = {str(q.dataset) for q in quoted if not _same(q.dataset, dataset)}
        if other:
            names = ", ".join(sorted(DATASET_NAMES.get(d, d) for d in other))
            notes.append(f"The paper's quoted rows are left out: they are on {names}.")
        quoted = [q for q in quoted if _same(q.dataset, dataset)]
    protocols = {
        _protocol_name(r) for rs in results.values() for r in rs if r.kind in ("seg", "per_class")
    }
    suffix = len(protocols) > 1
    records: list[dict] = []
    protocols = Protocols()
    for rs in spec.rows:
        if rs.key == QUOTED:
            for q in quoted:
                label, latex = _quoted_label(q)
                vals = [q.values.get(m, np.nan) for m in spec.metrics]
                records.append(_record(label, latex, _quoted_source(q), "", vals))
            continue
        res = results.get(rs.key, [])
        if rs.optional and not res:
            continue
        seg = [r for r in res if r.kind in ("seg", "per_class")]
        extra: dict[str, float] = {}
        for r in res:
            if r.kind in ("fid", "consistency"):
                extra.update(r.metrics)
                protocols.add(r.kind, sample_protocol_text(r), rs.label)
        by_protocol: dict[str, Result] = {}
        for r in seg:
            name = _protocol_name(r)
            if name in by_protocol:
                raise FdiffError(
                    f"table {spec.number}: {r.path} and {by_protocol[name].path}: two results "
                    f"for row {rs.key!r} with protocol {name!r}; expected one"
                )
            by_protocol[name] = r
        for name, r in (by_protocol or {"": None}).items():
            tag = f" ({name.replace('_', '-')})" if suffix and name else ""
            label, latex = rs.label + tag, (rs.latex or rs.label) + tag
            got = dict(extra)
            if r is not None:
                got.update(r.metrics)
                protocols.add_seg(r, rs.label)
            vals = [display_value(m, got[m]) if m in got else np.nan for m in spec.metrics]
            source = "computed" if got else "not run"
            records.append(_record(label, latex, source, "", vals, rs.label))
    headers = [METRIC_HEADERS[m] for m in spec.metrics]
    cells = [list(spec.metrics)] * len(records)
    return _finish(spec, records, cells, headers, protocols, notes, _title(spec, dataset))


def _column_name(experiment: str) -> str:
    ds, _, res = experiment.rpartition("-")
    return f"{DATASET_NAMES.get(ds, ds)}-{res}" if ds else experiment


def _group_name(metric: str) -> str:
    return f"{METRIC_HEADERS[metric]} ({'higher' if HIGHER_IS_BETTER[metric] else 'lower'} better)"


def build_grouped_table(
    spec: TableSpec,
    inputs: Mapping[str, Sequence[str | Path]],
    literature: str | Path | None = None,
) -> Table:
    """Tables 5 and 7: a row group per metric, a row per method, fixed columns."""
    results = _read_inputs(spec, inputs)
    protocols = Protocols()
    cells: dict[tuple[str, str], dict[str, float]] = {}  # (row label, column) -> metrics
    labels = {x.key: x for x in spec.rows}
    columns = list(spec.columns)
    dataset = None
    if spec.number == 5:
        for key, rs in results.items():
            row, _, col = key.partition("@")
            if col not in columns:
                columns.append(col)
            for r in rs:
                if r.kind not in ("fid", "consistency"):
                    raise FdiffError(f"table 5: {r.path}: expected a fid or consistency JSON")
                cells.setdefault((row, col), {}).update(r.metrics)
                protocols.add(
                    r.kind, sample_protocol_text(r), f"{labels[row].label} {_column_name(col)}"
                )
        headers = [_column_name(c) for c in columns]
    else:
        dataset = _dataset_of(spec, results)
        for key, rs in results.items():
            for r in rs:
                if r.kind not in ("seg", "per_class"):
                    raise FdiffError(
                        f"table {spec.number}: {r.path}: expected an eval-seg CSV, per class (a "
                        "'class' column, one row per class) or overall (then only 'mean')"
                    )
                unknown = sorted(set(r.per_class) - set(columns))
                if unknown:
                    raise FdiffError(
                        f"table {spec.number}: {r.path}: class {unknown[0]!r}: expected one of "
                        f"{', '.join(columns)}"
                    )
                for c, m in r.per_class.items():
                    cells.setdefault((key, c), {}).update(m)
                cells.setdefault((key, "mean"), {}).update(r.metrics)
                protocols.add_seg(r, labels[key].label)
        headers = list(columns)
    quoted = read_literature(literature, spec.number) if literature else []
    records, metric_cells = [], []
    for m in spec.metrics:
        group = _group_name(m)
        for rs in spec.rows:
            vals = [cells.get((rs.key, c), {}).get(m) for c in columns]
            source = "computed" if any(v is not None for v in vals) else "not run"
            vals = [np.nan if v is None else display_value(m, v) for v in vals]
            records.append(_record(rs.label, rs.latex or rs.label, source, group, vals))
            metric_cells.append([m] * len(columns))
        for q in quoted:
            vals = [q.cells.get(c, {}).get(m, np.nan) for c in columns]
            if all(np.isnan(vals)):
                continue
            label, latex = _quoted_label(q)
            records.append(_record(label, latex, _quoted_source(q), group, vals))
            metric_cells.append([m] * len(columns))
    notes = []
    if spec.number == 7 and results:
        notes.append(
            "Each image is segmented by the class-conditional ImageNet model under the ImageNet "
            "class that its dominant VOC class maps to (fdiff/data/imagenet_voc.json)."
        )
    return _finish(spec, records, metric_cells, headers, protocols, notes, _title(spec, dataset))


def build_table(
    number: int,
    inputs: Mapping[str, Sequence[str | Path]],
    literature: str | Path | None = None,
) -> Table:
    """Table ``number`` (1-7) from result files named by key (see the module docstring).

    ``literature``: the quoted-numbers CSV (``fdiff.report.results.default_literature()``), or
    None for no quoted rows.
    """
    if number not in SPECS:
        raise FdiffError(f"table {number}: expected one of 1-7")
    spec = SPECS[number]
    build = build_grouped_table if number in (5, 7) else build_method_table
    return build(spec, inputs, literature)
