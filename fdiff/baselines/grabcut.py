"""GrabCut (Rother et al. 2004) from a centred rectangle: the GrabCut rows of Tables 1 and 2.

OpenCV's ``cv2.grabCut`` is initialised with a rectangle that leaves a margin of ``margin`` of
the image size on every side (pixels outside it are background for sure), then runs
``iterations`` rounds of GMM fitting and graph cuts. The result is a binary map [H x W]
(1 = definite or probable foreground), written as a 2-region segmentation file and scored by
``fdiff eval-seg`` like every other method. Where GrabCut cannot run (a flat image gives
OpenCV no colour model) the rectangle itself is the answer, and the count is logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from fdiff.data.hdf5 import inspect_split, open_dataset
from fdiff.progress import progress as pbar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GrabCutConfig:
    margin: float = 0.1  # fraction of width/height left outside the rectangle on each side
    iterations: int = 5
    workers: int = 1  # processes; images are independent


def centred_rect(h: int, w: int, margin: float) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the centred rectangle, at least 1 pixel inside the border."""
    mx, my = max(1, round(margin * w)), max(1, round(margin * h))
    return mx, my, max(1, w - 2 * mx), max(1, h - 2 * my)


def grabcut_image(image: np.ndarray, cfg: GrabCutConfig) -> tuple[np.ndarray, bool]:
    """Foreground map [H x W] uint8 of one RGB uint8 image [H x W x 3]; False: GrabCut failed."""
    h, w = image.shape[:2]
    rect = centred_rect(h, w, cfg.margin)
    mask = np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(image[..., ::-1])
    try:
        cv2.grabCut(bgr, mask, rect, bgd, fgd, cfg.iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        x, y, rw, rh = rect
        out = np.zeros((h, w), np.uint8)
        out[y : y + rh, x : x + rw] = 1
        return out, False
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8), True


def _work(args):
    return grabcut_image(*args)


def grabcut_split(data: str | Path, split: str, cfg: GrabCutConfig) -> np.ndarray:
    """Foreground maps [N x H x W] uint8 of every image of a dataset split."""
    with open_dataset(data) as f:  # a missing file or split is named in one line
        inspect_split(f, split, data)
        images = f[split]["images"]
        n = images.shape[0]
        jobs = ((images[i], cfg) for i in range(n))
        start = time.monotonic()
        if cfg.workers > 1:
            with get_context("spawn").Pool(cfg.workers) as pool:
                results = list(pbar(pool.imap(_work, jobs, chunksize=16), total=n, desc="grabcut"))
        else:
            results = [grabcut_image(im, c) for im, c in pbar(jobs, total=n, desc="grabcut")]
    failed = sum(not ok for _, ok in results)
    dt = time.monotonic() - start
    log.info(
        "GrabCut on %d images in %.1f s (%.1f images/s); %d fell back to the rectangle",
        n,
        dt,
        n / max(dt, 1e-9),
        failed,
    )
    return np.stack([m for m, _ in results]) if results else np.zeros((0, 0, 0), np.uint8)


def run_grabcut(data: str | Path, split: str, out: str | Path, cfg: GrabCutConfig) -> np.ndarray:
    """``fdiff baseline-grabcut``: segment a split and write a 2-region segmentation file."""
    from fdiff.inference.predictions import write_segmentation

    masks = grabcut_split(data, split, cfg)
    attrs = {
        "data": str(data),
        "split": split,
        "t": -1,
        "num_regions": 2,
        "method": "grabcut",
        "checkpoint": "",
        "grabcut_margin": cfg.margin,
        "grabcut_iterations": cfg.iterations,
    }
    write_segmentation(out, masks, attrs)
    return masks
