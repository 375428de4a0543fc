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
from fdiff.io import write_text
from fdiff.metrics.h5files import file_attrs, read_prediction
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


def _checked(pred: np.ndarray, gt: np.ndarray, pred_path: Path, gt_where: str) -> None:
    if pred.shape != gt.shape:
        raise FdiffError(
            f"{pred_path}: masks are {pred.shape} but {gt_where} holds {gt.shape}: expected one "
            "predicted [H, W] map per ground-truth mask, same order and resolution"
        )


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


def _load(req: EvalRequest) -> _Loaded:
    if req.protocol not in PROTOCOLS:
        raise FdiffError(f"--protocol {req.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    pred = read_prediction(req.pred)
    gt = read_masks(req.data, req.split)
    _checked(pred.masks, gt, req.pred, f"{req.data}:/{req.split}/masks")
    k = pred.num_regions
    fit = None
    if req.fit_pred is not None:
        fit_pred = read_prediction(req.fit_pred)
        fit_gt = read_masks(req.data, req.fit_split)
        _checked(fit_pred.masks, fit_gt, req.fit_pred, f"{req.data}:/{req.fit_split}/masks")
        k = max(k, fit_pred.num_regions)
        fit = (fit_pred.masks, fit_gt)
    protocol = SegProtocol(
        split=req.split,
        assignment=req.protocol,
        n=len(gt),
        num_regions=k,
        t=_t_of(pred.attrs),
        fit_split=(req.fit_split if fit else req.split) if req.protocol == "fixed" else None,
    )
    attrs = read_attrs(req.data)
    ignore = ignore_index_of(attrs)
    scored = gt if ignore is None else gt[gt != ignore]
    c = int(attrs.get("num_classes", 0) or 0) or (int(scored.max()) + 1 if scored.size else 1)
    return _Loaded(pred.masks, gt, fit, protocol, c, ignore)


def evaluate(req: EvalRequest) -> BinarySegResult | MultiClassSegResult:
    """Score ``req.pred`` against ``req.data``'s ``req.split`` masks."""
    ld = _load(req)
    pred, gt, fit, protocol, k = ld.pred, ld.gt, ld.fit, ld.protocol, ld.protocol.num_regions
    if req.multiclass:
        fit_arg = fit if req.protocol == "fixed" else None
        return multiclass_metrics(
            pred, gt, k, ld.num_classes, protocol, fit=fit_arg, ignore_index=ld.ignore_index
        )
    fg = None
    if req.protocol == "fixed":
        if fit is None:
            raise FdiffError(
                "--protocol fixed on a binary set needs --fit-pred TRAIN_MASKS.h5 (the same "
                f"method's masks of the {req.fit_split} split): the foreground regions are chosen "
                "there, not on the evaluated images"
            )
        fg = fit_foreground_subset(*fit, k, ignore_index=ld.ignore_index)
    return binary_metrics(pred, gt, k, protocol, foreground=fg, ignore_index=ld.ignore_index)


def evaluate_per_class(req: EvalRequest) -> list[tuple[int, MultiClassSegResult]]:
    """Table 7's cells: (class id, scores of the images whose ground truth holds it) for every
    foreground class (1..C-1) present in the split, under ``req.protocol``.

    ``fixed`` uses one matching for all classes, from the fitting split (or the whole evaluated
    split); ``per_image`` matches each image on its own. Classes absent from the split get no
    row (the table shows "-").
    """
    if not req.multiclass:
        raise FdiffError(
            f"{req.pred}: --per-class needs --multiclass (scores per class come from the "
            "Hungarian matching of regions to classes)"
        )
    ld = _load(req)
    k, c = ld.protocol.num_regions, ld.num_classes
    conf = confusion_per_image(ld.pred, ld.gt, k, c, ld.ignore_index).numpy()  # [N, K, C]
    fit_conf = None
    if req.protocol == "fixed":
        fit_conf = (
            conf if ld.fit is None else confusion_per_image(*ld.fit, k, c, ld.ignore_index).numpy()
        )
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


def result_row(
    result: BinarySegResult | MultiClassSegResult, method: str, dataset: str
) -> dict[str, object]:
    """A metrics-CSV row of ``result`` (columns above)."""
    p = result.protocol
    row: dict[str, object] = {
        "method": method,
        "dataset": dataset,
        "split": p.split,
        "protocol": p.assignment,
        "t": "" if p.t is None else p.t,
        "n": p.n,
        "num_regions": p.num_regions,
        "acc": result.acc,
    }
    if isinstance(result, BinarySegResult):
        row |= {"iou": result.iou, "dice": result.dice}
        assign = (
            "per-image"
            if result.foreground is None
            else "fg=" + "+".join(map(str, result.foreground))
        )
    else:
        row |= {"miou": result.miou}
        assign = (
            "per-image"
            if result.matching is None
            else " ".join(f"{r}->{c}" for r, c in enumerate(result.matching))
        )
    row |= {"fit_split": p.fit_split or "", "assignment": assign}
    return row


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
    pattrs, dattrs = file_attrs(req.pred), read_attrs(req.data)
    method = str(pattrs.get("method") or pattrs.get("arch") or req.pred.stem)
    dataset = str(dattrs.get("dataset") or req.data.stem)
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
    result = evaluate(req)
    pattrs, dattrs = file_attrs(req.pred), read_attrs(req.data)
    method = str(pattrs.get("method") or pattrs.get("arch") or req.pred.stem)
    row = result_row(result, method, str(dattrs.get("dataset") or req.data.stem))
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
