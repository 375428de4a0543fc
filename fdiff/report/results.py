"""Read result files into typed records: what the tables are built from.

One reader per kind of file (docs/contracts.md, "Metric files"):

- eval-seg CSV (one row): ``acc, iou, dice`` or ``acc, miou`` as fractions, with the protocol
  (``split, protocol, t, n, num_regions, fit_split, assignment``);
- per-class CSV (Table 7): the eval-seg columns plus ``class``, one row per class;
- fid JSON: ``fid``, ``kid_mean`` and the sampler (``sampler, steps, n_samples, ref_split``);
- consistency JSON (Table 5, bottom): ``acc`` (fraction) of the generated masks against a
  supervised U-Net's masks of the same images;
- the literature CSV (``fdiff/baselines/literature.csv``): numbers quoted from the paper.

Values stay in their file's units here (fractions for segmentation metrics); the tables convert
to percent for display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fdiff.errors import FdiffError
from fdiff.io import read_json_object
from fdiff.metrics.protocol import SegProtocol

if TYPE_CHECKING:  # imported by the readers: the metric names are read without pandas
    import pandas as pd

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
# The protocol columns of an eval-seg CSV (SegProtocol owns them) and the fixed assignment found.
PROTOCOL_KEYS = (*SegProtocol.columns(), "assignment")


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
    import pandas as pd

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
    obj = read_json_object(path, "a fid or consistency JSON object")
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
    """A method's numbers quoted from a publication, as printed (percent; FID as is).

    ``values`` maps a metric to its value; for Table 5 ``cells`` maps an experiment
    (``dataset-resolution``) to its metrics instead.
    """

    method: str
    citation: str
    quoted_from: str
    dataset: str | None
    values: dict[str, float] = field(default_factory=dict)
    cells: dict[str, dict[str, float]] = field(default_factory=dict)


LITERATURE_METRICS = {"consistency_acc": "consistency"}


def default_literature() -> Path:
    """The packaged ``fdiff/baselines/literature.csv``."""
    from importlib import resources

    return Path(str(resources.files("fdiff.baselines").joinpath("literature.csv")))


def read_literature(path: str | Path, table: int) -> list[QuotedRow]:
    """The quoted rows of ``table`` in a literature CSV, one per method, in file order.

    The file is long-form, one number per line (``fdiff.baselines.literature``): ``table,
    dataset, resolution, method, metric, value, unit, cited, quoted_from, quoted``.
    """
    import pandas as pd

    from fdiff.baselines.literature import COLUMNS

    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"resolution": "Int64"})
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise FdiffError(f"{path}: unreadable literature CSV ({e})") from None
    if list(df.columns) != COLUMNS:
        raise FdiffError(f"{path}: columns {list(df.columns)}: expected {COLUMNS}")
    rows: dict[str, QuotedRow] = {}
    for _, r in df[df["table"] == table].iterrows():
        metric = LITERATURE_METRICS.get(r["metric"], r["metric"])
        if metric not in HIGHER_IS_BETTER:
            raise FdiffError(
                f"{path}: metric {r['metric']!r}: expected one of {sorted(HIGHER_IS_BETTER)}"
            )
        value = _float(r["value"], path, f"{r['method']}.{r['metric']}")
        if r["unit"] == "percent" and not 0.0 <= value <= 100.0:
            raise FdiffError(f"{path}: {r['method']}.{metric} = {value}: expected percent")
        method = str(r["method"])
        row = rows.setdefault(
            method, QuotedRow(method, str(r["cited"]), str(r["quoted_from"]), _clean(r["dataset"]))
        )
        if pd.isna(r["resolution"]):
            row.values[metric] = value
        else:
            row.cells.setdefault(f"{r['dataset']}-{int(r['resolution'])}", {})[metric] = value
    return list(rows.values())
