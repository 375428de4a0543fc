"""Read result files into typed records: what the tables are built from.

One reader per kind of file (docs/contracts.md, "Metric files"):

- eval-seg CSV (one row): ``acc, iou, dice`` or ``acc, miou`` as fractions, with the protocol
  (``split, protocol, t, n, num_regions, fit_split, assignment``);
- per-class CSV (Table 7): the eval-seg columns plus ``class``, one row per class;
- fid JSON: ``fid``, ``kid_mean`` and the sampler (``sampler, steps, n_samples, ref_split``);
- consistency JSON (Table 5, bottom): ``acc`` (fraction) of the generated masks against a
  supervised U-Net's masks of the same images;
- the literature CSV (``fdiff/baselines/literature.csv``): rows quoted from published papers.

Values stay in their file's units here (fractions for segmentation metrics); the tables convert
to percent for display.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fdiff.errors import FdiffError

SEG_METRICS = ("acc", "iou", "dice", "miou")
# Direction of every metric a table can show: True when higher is better.
HIGHER_IS_BETTER = {
    "acc": True,
    "iou": True,
    "dice": True,
    "miou": True,
    "consistency": True,
    "fid": False,
    "kid": False,
}
PROTOCOL_KEYS = ("split", "protocol", "t", "n", "num_regions", "fit_split", "assignment")


@dataclass(frozen=True)
class Result:
    """The metrics of one result file and how they were obtained.

    ``kind``: ``seg`` (eval-seg CSV), ``per_class`` (per-class CSV), ``fid`` or ``consistency``.
    ``metrics``: metric name -> value (fractions for segmentation metrics, FID as is).
    ``protocol``: the file's description of the evaluation (split, t, n, protocol, sampler, ...).
    ``per_class``: class name -> metrics, for per-class files.
    """

    path: Path
    kind: str
    metrics: dict[str, float]
    protocol: dict[str, object] = field(default_factory=dict)
    dataset: str | None = None
    method: str | None = None
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)


def _float(value, path: Path, key: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise FdiffError(f"{path}: {key} = {value!r}: expected a number") from None
    if math.isnan(x):
        raise FdiffError(f"{path}: {key} is NaN: expected a number")
    return x


def _clean(value) -> object:
    """CSV cells as plain Python values: '' and NaN -> None, integral floats -> int."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _seg_metrics(row: pd.Series, path: Path) -> dict[str, float]:
    metrics = {
        k: _float(row[k], path, k) for k in SEG_METRICS if k in row and _clean(row[k]) is not None
    }
    if "acc" not in metrics:
        raise FdiffError(f"{path}: no 'acc' column: expected an eval-seg CSV (docs/contracts.md)")
    for k, v in metrics.items():
        if not 0.0 <= v <= 1.0:
            raise FdiffError(f"{path}: {k} = {v}: expected a fraction in [0, 1]")
    return metrics


def read_seg_csv(path: str | Path) -> Result:
    """An eval-seg CSV (one row), or a per-class CSV (a ``class`` column, one row per class)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise FdiffError(f"{path}: unreadable metrics CSV ({e})") from None
    if df.empty:
        raise FdiffError(f"{path}: no rows: expected one eval-seg row")
    first = df.iloc[0]
    protocol = {k: _clean(first[k]) for k in PROTOCOL_KEYS if k in df.columns}
    dataset = _clean(first["dataset"]) if "dataset" in df.columns else None
    method = _clean(first["method"]) if "method" in df.columns else None
    if "class" in df.columns:
        per_class = {str(r["class"]): _seg_metrics(r, path) for _, r in df.iterrows()}
        mean = {
            k: float(sum(m[k] for m in per_class.values()) / len(per_class))
            for k in next(iter(per_class.values()))
        }
        mean = per_class.pop("mean", mean)
        return Result(path, "per_class", mean, protocol, dataset, method, per_class)
    if len(df) != 1:
        raise FdiffError(
            f"{path}: {len(df)} rows: expected the one row of an eval-seg CSV (a t sweep or a "
            "per-class file is not a table cell)"
        )
    return Result(path, "seg", _seg_metrics(first, path), protocol, dataset, method)


def read_json_result(path: str | Path) -> Result:
    """A fid JSON (``fid`` key) or a consistency JSON (``acc`` key, no ``fid``)."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise FdiffError(f"{path}: unreadable JSON ({e})") from None
    if not isinstance(obj, dict):
        raise FdiffError(f"{path}: expected a JSON object")
    if "fid" in obj:
        metrics = {"fid": _float(obj["fid"], path, "fid")}
        if obj.get("kid_mean") is not None:
            metrics["kid"] = _float(obj["kid_mean"], path, "kid_mean")
        keys = ("sampler", "steps", "n_samples", "ref_split")
        protocol = {k: obj[k] for k in keys if k in obj}
        return Result(path, "fid", metrics, protocol)
    if "acc" in obj:
        acc = _float(obj["acc"], path, "acc")
        if not 0.0 <= acc <= 1.0:
            raise FdiffError(f"{path}: acc = {acc}: expected a fraction in [0, 1]")
        keys = ("n", "n_samples", "sampler", "steps", "seg_model", "masks")
        protocol = {k: obj[k] for k in keys if k in obj}
        return Result(path, "consistency", {"consistency": acc}, protocol)
    raise FdiffError(
        f"{path}: neither 'fid' nor 'acc' in the JSON: expected a fid or consistency file"
    )


def read_result(path: str | Path) -> Result:
    """Any result file, by its suffix (``.csv`` or ``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise FdiffError(f"{path}: no such result file")
    if path.suffix == ".csv":
        return read_seg_csv(path)
    if path.suffix == ".json":
        return read_json_result(path)
    raise FdiffError(f"{path}: expected a .csv (eval-seg) or .json (fid, consistency) file")


@dataclass(frozen=True)
class QuotedRow:
    """A row quoted from a publication: values as printed (percent; FID as is)."""

    method: str
    citation: str
    values: dict[str, float]
    dataset: str | None = None


LITERATURE_COLUMNS = ("table", "method")


def read_literature(path: str | Path, table: int) -> list[QuotedRow]:
    """The rows of ``table`` in the literature CSV, in file order.

    Columns: ``table`` (1..7), ``method``, optional ``dataset``, ``citation`` (or ``source``),
    and metric columns (``acc, iou, dice, miou, fid``; empty = not reported, shown "-").
    Segmentation values are percent as printed in the source.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"table": str}, comment="#")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise FdiffError(f"{path}: unreadable literature CSV ({e})") from None
    missing = [c for c in LITERATURE_COLUMNS if c not in df.columns]
    if missing:
        raise FdiffError(f"{path}: no column {missing[0]!r}: expected columns table, method, ...")
    cite_col = (
        "citation" if "citation" in df.columns else "source" if "source" in df.columns else None
    )
    wanted = {str(table), f"table{table}", f"Table {table}"}
    rows = []
    for _, r in df[df["table"].astype(str).str.strip().isin(wanted)].iterrows():
        values = {}
        for k in HIGHER_IS_BETTER:
            v = _clean(r.get(k))
            if v is None or v == "-":
                continue
            values[k] = _float(v, path, f"{r['method']}.{k}")
            if k in SEG_METRICS and not 0.0 <= values[k] <= 100.0:
                raise FdiffError(f"{path}: {r['method']}.{k} = {v}: expected percent in [0, 100]")
        citation = str(_clean(r.get(cite_col)) or "") if cite_col else ""
        dataset = _clean(r.get("dataset")) if "dataset" in df.columns else None
        rows.append(QuotedRow(str(r["method"]), citation, values, dataset))
    return rows
