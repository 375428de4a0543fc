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

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fdiff.errors import FdiffError
from fdiff.report.notes import Protocols, sample_protocol_text
from fdiff.report.results import HIGHER_IS_BETTER, QuotedRow, Result, read_literature, read_result
from fdiff.report.specs import (
    DATASET_NAMES,
    METRIC_HEADERS,
    QUOTED,
    SPECS,
    RowSpec,
    Table,
    TableSpec,
    canonical_key,
    display_value,
    latex_escape,
)

__all__ = ["SPECS", "RowSpec", "Table", "TableSpec", "build_table"]

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
