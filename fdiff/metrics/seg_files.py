"""``fdiff eval-seg``: score a prediction file against a dataset split; one metrics-CSV row.

Row columns (docs/contracts.md): ``method, dataset, split, protocol, t, n, num_regions`` then
``acc, iou, dice`` (binary) or ``acc, miou`` (multi-class), then ``fit_split`` and
``assignment`` (the fixed foreground subset, the region -> class matching, or "per-image").

``--per-class`` (multi-class sets, Table 7) writes one such row per foreground class instead,
with a ``class`` column (the dataset file's ``class_names``): the scores of the images whose
ground truth holds that class. Ground-truth pixels equal to the dataset file's ``ignore_index``
attribute (VOC: 255) are left out of every score.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fdiff.data.hdf5 import read_attrs, read_masks
from fdiff.errors import FdiffError
from fdiff.inference.predictions import file_attrs, method_of, read_prediction
from fdiff.io import write_text
from fdiff.metrics.segmentation import (
    PROTOCOLS,
    BinarySegResult,
    MultiClassSegResult,
    SegProtocol,
    binary_metrics,
    confusion_per_image,
    fit_foreground_subset,
    multiclass_from_confusion,
    multiclass_metrics,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalRequest:
    """One ``eval-seg`` call: what to score against what, and how."""

    pred: Path
    data: Path
    split: str = "test"
    protocol: str = "per_image"
    multiclass: bool = False
    fit_pred: Path | None = None
    fit_split: str = "train"
    per_class: bool = False  # multi-class only: one row per class (images holding it)


def _t_of(attrs: dict) -> int | None:
    t = attrs.get("t")
    return None if t is None or (isinstance(t, float) and np.isnan(t)) or int(t) < 0 else int(t)


def ignore_index_of(attrs: dict) -> int | None:
    """The dataset file's ``ignore_index`` attribute (ground-truth pixels left out), or None."""
    v = attrs.get("ignore_index")
    return None if v is None or v == "" else int(v)


@dataclass(frozen=True)
class _Loaded:
    """The arrays of one request: masks [N x H x W] and, for ``fixed``, the fitting pair."""

    pred: np.ndarray
    gt: np.ndarray
    fit: tuple[np.ndarray, np.ndarray] | None
    protocol: SegProtocol
    num_classes: int
    ignore_index: int | None


_NEEDS_FIT = (
    "--protocol fixed on a binary set needs --fit-pred TRAIN_MASKS.h5 (the same method's masks "
    "of the {split} split): the foreground regions are chosen there, not on the evaluated images"
)


def num_classes_of(attrs: dict, gt: np.ndarray, ignore_index: int | None) -> int:
    """C: the dataset file's ``num_classes``, else the largest scored class id + 1 (ground-truth
    pixels equal to ``ignore_index`` do not count)."""
    c = int(attrs.get("num_classes", 0) or 0)
    if c:
        return c
    scored = gt if ignore_index is None else gt[gt != ignore_index]
    return int(scored.max()) + 1 if scored.size else 1


@dataclass(frozen=True)
class Truth:
    """What predictions of one dataset split are scored against: masks [N x H x W], the number
    of classes C and the ignored ground-truth value."""

    gt: np.ndarray
    num_classes: int
    ignore_index: int | None


def read_truth(data: str | Path, split: str, limit: int = 0) -> Truth:
    """The ground truth of ``data``'s ``split`` (the first ``limit`` images; 0: all)."""
    attrs = read_attrs(data)
    gt = read_masks(data, split)
    gt = gt[:limit] if limit > 0 else gt
    ignore = ignore_index_of(attrs)
    return Truth(gt, num_classes_of(attrs, gt, ignore), ignore)


def score(
    pred: np.ndarray,
    truth: Truth,
    protocol: SegProtocol,
    multiclass: bool,
    fit: tuple[np.ndarray, np.ndarray] | None = None,
) -> BinarySegResult | MultiClassSegResult:
    """Score region maps pred [N x H x W] against ``truth`` under ``protocol``: binary Acc / IoU
    / DICE or multi-class Acc / mIoU; ``fit`` = (masks, ground truth) of the fitting split for
    the ``fixed`` protocol. ``fdiff eval-seg`` and the t sweep both score here."""
    k, ignore = protocol.num_regions, truth.ignore_index
    if multiclass:
        fit_arg = fit if protocol.assignment == "fixed" else None
        return multiclass_metrics(
            pred, truth.gt, k, truth.num_classes, protocol, fit=fit_arg, ignore_index=ignore
        )
    fg = None
    if protocol.assignment == "fixed":
        if fit is None:
            raise FdiffError(_NEEDS_FIT.format(split="fitting"))
        fg = fit_foreground_subset(*fit, k, ignore_index=ignore)
    return binary_metrics(pred, truth.gt, k, protocol, foreground=fg, ignore_index=ignore)


@dataclass(frozen=True)
class _Loaded:
    """The arrays of one request: masks [N x H x W] and, for ``fixed``, the fitting pair."""

    pred: np.ndarray
    truth: Truth
    fit: tuple[np.ndarray, np.ndarray] | None
    protocol: SegProtocol
    method: str


def _load(req: EvalRequest) -> _Loaded:
    if req.protocol not in PROTOCOLS:
        raise FdiffError(
            f"{req.protocol!r}: expected one of {', '.join(PROTOCOLS)}", arg="protocol"
        )
    pred = read_prediction(req.pred, against=(req.data, req.split))
    truth = read_truth(req.data, req.split)
    k = pred.num_regions
    fit = None
    if req.fit_pred is not None:
        fit_pred = read_prediction(req.fit_pred, against=(req.data, req.fit_split))
        k = max(k, fit_pred.num_regions)
        fit = (fit_pred.masks, read_masks(req.data, req.fit_split))
    elif req.protocol == "fixed" and not req.multiclass:
        raise FdiffError(_NEEDS_FIT.format(split=req.fit_split))
    protocol = SegProtocol(
        split=req.split,
        assignment=req.protocol,
        n=len(truth.gt),
        num_regions=k,
        t=_t_of(pred.attrs),
        fit_split=(req.fit_split if fit else req.split) if req.protocol == "fixed" else None,
    )
    return _Loaded(pred.masks, truth, fit, protocol, method_of(pred.attrs, req.pred))


def evaluate(req: EvalRequest) -> BinarySegResult | MultiClassSegResult:
    """Score ``req.pred`` against ``req.data``'s ``req.split`` masks."""
    ld = _load(req)
    return score(ld.pred, ld.truth, ld.protocol, req.multiclass, ld.fit)


def evaluate_per_class(req: EvalRequest) -> list[tuple[int, MultiClassSegResult]]:
    """Table 7's cells: (class id, scores of the images whose ground truth holds it) for every
    foreground class (1..C-1) present in the split, under ``req.protocol``.

    ``fixed`` uses one matching for all classes, from the fitting split (or the whole evaluated
    split); ``per_image`` matches each image on its own. Classes absent from the split get no
    row (the table shows "-").
    """
    if not req.multiclass:
        raise FdiffError(
            f"{req.pred}: scores per class need multi-class scoring (they come from the "
            "Hungarian matching of regions to classes)",
            arg="per_class",
        )
    ld = _load(req)
    k, c, ignore = ld.protocol.num_regions, ld.truth.num_classes, ld.truth.ignore_index
    conf = confusion_per_image(ld.pred, ld.truth.gt, k, c, ignore)  # [N, K, C]
    fit_conf = None
    if req.protocol == "fixed":
        fit_conf = conf if ld.fit is None else confusion_per_image(*ld.fit, k, c, ignore)
    present = conf.sum(1) > 0  # [N, C]: image n holds class c
    out = []
    for cls in range(1, c):
        rows = np.flatnonzero(present[:, cls])
        if rows.size == 0:
            continue
        protocol = replace(ld.protocol, n=int(rows.size))
        out.append((cls, multiclass_from_confusion(conf[rows], protocol, fit_conf)))
    if not out:
        raise FdiffError(
            f"{req.data}:/{req.split}/masks: no foreground class in any image: expected class "
            "ids 1..C-1 for --per-class"
        )
    return out


def class_names(attrs: dict, num_classes: int) -> list[str]:
    """The dataset file's ``class_names`` (JSON list), or the class ids as text."""
    names = attrs.get("class_names")
    if isinstance(names, list) and len(names) >= num_classes:
        return [str(v) for v in names]
    return [str(i) for i in range(num_classes)]


def dataset_name(attrs: dict, data: str | Path) -> str:
    """The ``dataset`` column: the dataset file's ``dataset`` attribute, else its file name."""
    return str(attrs.get("dataset") or Path(data).stem)


def result_row(
    result: BinarySegResult | MultiClassSegResult, method: str, dataset: str
) -> dict[str, object]:
    """A metrics-CSV row of ``result`` (columns above)."""
    metrics: dict[str, object] = {"acc": result.acc}
    if isinstance(result, BinarySegResult):
        metrics |= {"iou": result.iou, "dice": result.dice}
        assign = (
            "per-image"
            if result.foreground is None
            else "fg=" + "+".join(map(str, result.foreground))
        )
    else:
        metrics |= {"miou": result.miou}
        assign = (
            "per-image"
            if result.matching is None
            else " ".join(f"{r}->{c}" for r, c in enumerate(result.matching))
        )
    row = {"method": method, "dataset": dataset} | result.protocol.row(metrics)
    return row | {"assignment": assign}


def rows_to_csv(rows: list[dict[str, object]]) -> str:
    if not rows:
        raise FdiffError("no metric rows to write")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def per_class_to_csv(req: EvalRequest, out: str | Path) -> list[dict[str, object]]:
    """Run :func:`evaluate_per_class` and write one row per class (``class`` after
    ``num_regions``) atomically; returns the rows."""
    start = time.monotonic()
    results = evaluate_per_class(req)
    dattrs = read_attrs(req.data)
    method = method_of(file_attrs(req.pred), req.pred)
    dataset = dataset_name(dattrs, req.data)
    names = class_names(dattrs, max(cls for cls, _ in results) + 1)
    rows = []
    for cls, result in results:
        row = result_row(result, method, dataset)
        keys = list(row)
        at = keys.index("num_regions") + 1
        rows.append(
            {k: row[k] for k in keys[:at]} | {"class": names[cls]} | {k: row[k] for k in keys[at:]}
        )
    write_text(out, rows_to_csv(rows))
    log.info(
        "%s on %s/%s (%s) per class: %d classes in %.2f s",
        method,
        dataset,
        req.split,
        req.protocol,
        len(rows),
        time.monotonic() - start,
    )
    return rows


def eval_seg_to_csv(req: EvalRequest, out: str | Path) -> dict[str, object]:
    """Run :func:`evaluate` and write its one-row CSV atomically; returns the row."""
    start = time.monotonic()
    ld = _load(req)
    result = score(ld.pred, ld.truth, ld.protocol, req.multiclass, ld.fit)
    method = ld.method
    row = result_row(result, method, dataset_name(read_attrs(req.data), req.data))
    write_text(out, rows_to_csv([row]))
    log.info(
        "%s on %s/%s (%s, %d images, K=%d) in %.2f s: %s",
        method,
        row["dataset"],
        req.split,
        req.protocol,
        row["n"],
        row["num_regions"],
        time.monotonic() - start,
        ", ".join(f"{m}={row[m]:.4f}" for m in ("acc", "iou", "dice", "miou") if m in row),
    )
    return row
