"""``fdiff eval-seg``: score a prediction file against a dataset split; one metrics-CSV row.

Row columns (docs/contracts.md): ``method, dataset, split, protocol, t, n, num_regions`` then
``acc, iou, dice`` (binary) or ``acc, miou`` (multi-class), then ``fit_split`` and
``assignment`` (the fixed foreground subset, the region -> class matching, or "per-image").
"""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass
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
    fit_foreground_subset,
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


def _checked(pred: np.ndarray, gt: np.ndarray, pred_path: Path, gt_where: str) -> None:
    if pred.shape != gt.shape:
        raise FdiffError(
            f"{pred_path}: masks are {pred.shape} but {gt_where} holds {gt.shape}: expected one "
            "predicted [H, W] map per ground-truth mask, same order and resolution"
        )


def _t_of(attrs: dict) -> int | None:
    t = attrs.get("t")
    return None if t is None or (isinstance(t, float) and np.isnan(t)) or int(t) < 0 else int(t)


def evaluate(req: EvalRequest) -> BinarySegResult | MultiClassSegResult:
    """Score ``req.pred`` against ``req.data``'s ``req.split`` masks."""
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
    if req.multiclass:
        c = int(read_attrs(req.data).get("num_classes", 0) or 0) or int(gt.max()) + 1
        fit_arg = fit if req.protocol == "fixed" else None
        return multiclass_metrics(pred.masks, gt, k, c, protocol, fit=fit_arg)
    fg = None
    if req.protocol == "fixed":
        if fit is None:
            raise FdiffError(
                "--protocol fixed on a binary set needs --fit-pred TRAIN_MASKS.h5 (the same "
                f"method's masks of the {req.fit_split} split): the foreground regions are chosen "
                "there, not on the evaluated images"
            )
        fg = fit_foreground_subset(*fit, k)
    return binary_metrics(pred.masks, gt, k, protocol, foreground=fg)


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
