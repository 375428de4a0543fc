"""The appendix's t sweep: segment real images at several noise levels t and score each.

For every t, each image x0 [N x 3 x H x W] is noised to x_t (Eq. 1) with a fixed seed, passed
once through the encoder, middle block and mask generator (Sec. 3.4,
:func:`fdiff.samplers.segment`), and its argmax region map is scored with the same metrics as
``fdiff eval-seg`` (binary Acc / IoU / DICE or multi-class Acc / mIoU, either protocol). One
CSV row per t.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fdiff.data.hdf5 import read_attrs, read_masks
from fdiff.data.loader import H5ImageDataset
from fdiff.errors import FdiffError
from fdiff.metrics.seg_files import ignore_index_of, result_row, rows_to_csv
from fdiff.metrics.segmentation import (
    PROTOCOLS,
    SegProtocol,
    binary_metrics,
    fit_foreground_subset,
    multiclass_metrics,
)

log = logging.getLogger(__name__)

DEFAULT_TS = (0, 10, 20, 30, 40, 50, 60)


@dataclass(frozen=True)
class SweepConfig:
    """What to sweep: the noise levels, the protocol and how many images."""

    ts: tuple[int, ...] = DEFAULT_TS
    split: str = "test"
    protocol: str = "per_image"
    fit_split: str = "train"
    multiclass: bool = False
    limit: int = 0  # 0: every image of the split (and of the fitting split)
    batch_size: int = 64
    seed: int = 0
    device: str = "cpu"


def segment_split(
    model: torch.nn.Module,
    diffusion,
    data: str | Path,
    split: str,
    t: int,
    limit: int = 0,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "cpu",
) -> np.ndarray:
    """Region maps [N x H x W] uint8 of a dataset split, segmented at step ``t``."""
    from fdiff.samplers import segment

    ds = H5ImageDataset(data, split)
    n = len(ds) if limit <= 0 else min(limit, len(ds))
    g = torch.Generator(device).manual_seed(seed)
    out = []
    for start in tqdm(range(0, n, batch_size), desc=f"segment {split} t={t}", leave=False):
        x0, labels = ds.get_batch(range(start, min(start + batch_size, n)))
        y = None
        if getattr(model.cfg, "num_classes", 0):
            if (labels < 0).any():
                raise FdiffError(f"{data}: /{split}/labels missing; the model is class-conditional")
            y = labels.to(device)
        m = segment(model, diffusion, x0.to(device), t, y=y, generator=g)
        out.append(m.argmax(1).to(torch.uint8).cpu().numpy())
    return np.concatenate(out)


def run_sweep(model_path: str | Path, data: str | Path, cfg: SweepConfig) -> list[dict]:
    """One metrics row per t (columns of ``fdiff eval-seg`` with ``t`` filled in)."""
    from fdiff.checkpoint import load_model

    if cfg.protocol not in PROTOCOLS:
        raise FdiffError(f"--protocol {cfg.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    model, diffusion = load_model(model_path, cfg.device)
    if not getattr(model.cfg, "factorized", False):
        raise FdiffError(f"{model_path}: a standard DDPM has no mask generator to sweep")
    k = model.cfg.num_regions
    method = "factorized" if model.cfg.decoding == "shared" else model.cfg.decoding
    attrs = read_attrs(data)
    gt = read_masks(data, cfg.split)
    fit_gt = read_masks(data, cfg.fit_split) if cfg.protocol == "fixed" else None
    if cfg.limit > 0:
        gt = gt[: cfg.limit]
        fit_gt = None if fit_gt is None else fit_gt[: cfg.limit]
    num_classes = int(attrs.get("num_classes", 0) or 0) or int(gt.max()) + 1
    ignore = ignore_index_of(attrs)  # VOC's void pixels: left out of every score
    kw = dict(limit=cfg.limit, batch_size=cfg.batch_size, seed=cfg.seed, device=cfg.device)
    rows = []
    for t in cfg.ts:
        start = time.monotonic()
        pred = segment_split(model, diffusion, data, cfg.split, t, **kw)
        fit_pred = None
        if cfg.protocol == "fixed":
            fit_pred = segment_split(model, diffusion, data, cfg.fit_split, t, **kw)
        protocol = SegProtocol(
            split=cfg.split,
            assignment=cfg.protocol,
            n=len(gt),
            num_regions=k,
            t=t,
            fit_split=cfg.fit_split if cfg.protocol == "fixed" else None,
        )
        if cfg.multiclass:
            fit = None if fit_pred is None else (fit_pred, fit_gt)
            result = multiclass_metrics(
                pred, gt, k, num_classes, protocol, fit=fit, ignore_index=ignore
            )
        else:
            fg = None
            if fit_pred is not None:
                fg = fit_foreground_subset(fit_pred, fit_gt, k, ignore_index=ignore)
            result = binary_metrics(pred, gt, k, protocol, foreground=fg, ignore_index=ignore)
        row = result_row(result, method, str(attrs.get("dataset", Path(data).stem)))
        rows.append(row)
        log.info(
            "t=%d: acc %.4f (%d images in %.1f s)", t, result.acc, len(gt), time.monotonic() - start
        )
    return rows


def sweep_to_csv(model_path: str | Path, data: str | Path, cfg: SweepConfig, out: str | Path):
    """Run :func:`run_sweep` and write its rows atomically."""
    from fdiff.io import write_text

    rows = run_sweep(model_path, data, cfg)
    write_text(out, rows_to_csv(rows))
    return rows
