"""The appendix's t sweep: segment real images at several noise levels t and score each.

For every t, each image x0 [N x 3 x H x W] is noised to x_t (Eq. 1) with a fixed seed, passed
once through the encoder, middle block and mask generator (Sec. 3.4,
:func:`fdiff.inference.segmentation.segment_split`, the loop of ``fdiff segment``), and its region
map is scored by :func:`fdiff.metrics.seg_files.score`, the function of ``fdiff eval-seg`` (binary
Acc / IoU / DICE or multi-class Acc / mIoU, either protocol). One CSV row per t.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from fdiff.data.hdf5 import read_attrs, read_masks
from fdiff.errors import FdiffError
from fdiff.metrics.seg_files import dataset_name, read_truth, result_row, rows_to_csv, score
from fdiff.metrics.segmentation import PROTOCOLS, SegProtocol

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


def run_sweep(model_path: str | Path, data: str | Path, cfg: SweepConfig) -> list[dict]:
    """One metrics row per t (columns of ``fdiff eval-seg`` with ``t`` filled in)."""
    from fdiff.inference.segmentation import check_segmentable, segment_split, split_resolution
    from fdiff.training.checkpoint import load_model

    if cfg.protocol not in PROTOCOLS:
        raise FdiffError(
            f"{cfg.protocol!r}: expected one of {', '.join(PROTOCOLS)}", arg="protocol"
        )
    model, diffusion = load_model(model_path, cfg.device)
    check_segmentable(model, split_resolution(data, cfg.split), False, model_path, data)
    fixed = cfg.protocol == "fixed"
    truth = read_truth(data, cfg.split, cfg.limit)
    fit_gt = read_masks(data, cfg.fit_split)[: cfg.limit or None] if fixed else None
    dataset = dataset_name(read_attrs(data), data)
    kw = dict(limit=cfg.limit, batch_size=cfg.batch_size, seed=cfg.seed, device=cfg.device)
    rows = []
    for t in cfg.ts:
        start = time.monotonic()
        pred = segment_split(model, diffusion, data, cfg.split, t, **kw).masks
        fit = None
        if fixed:
            fit = (segment_split(model, diffusion, data, cfg.fit_split, t, **kw).masks, fit_gt)
        protocol = SegProtocol(
            split=cfg.split,
            assignment=cfg.protocol,
            n=len(truth.gt),
            num_regions=model.num_regions,
            t=t,
            fit_split=cfg.fit_split if fixed else None,
        )
        result = score(pred, truth, protocol, cfg.multiclass, fit)
        rows.append(result_row(result, model.cfg.method, dataset))
        log.info(
            "t=%d: acc %.4f (%d images in %.1f s)", t, result.acc, len(pred),
            time.monotonic() - start,
        )  # fmt: skip
    return rows


def sweep_to_csv(model_path: str | Path, data: str | Path, cfg: SweepConfig, out: str | Path):
    """Run :func:`run_sweep` and write its rows atomically."""
    from fdiff.io import write_text

    rows = run_sweep(model_path, data, cfg)
    write_text(out, rows_to_csv(rows))
    return rows
