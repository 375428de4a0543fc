"""Trivial and colour baselines: what a segmentation must beat to show it learned something.

Three region maps that need no training, written as segmentation files and scored by
``fdiff eval-seg`` like every other method (rows "Centred disc", "All foreground" and "K-means
on RGB" of Tables 1, 2 and 6):

- ``disc``: the same centred disc on every image, region 1 inside, region 0 outside (K = 2).
  Its area is the mean foreground fraction of the dataset's *training* masks (ignored pixels
  left out), so it encodes only "objects sit in the middle and are this big": radius
  ``sqrt(fraction * H * W / pi)`` pixels around the image centre, a pixel inside when its centre
  is. Without training masks the radius is ``0.3 * min(H, W)``. (The emergence experiments'
  ``docs/experiments/baselines.py`` fits the radius by the best training IoU instead; the area
  rule here is one number from the data, with nothing tuned to the metric.)
- ``all-foreground``: every pixel region 0 (K = 1); ``eval-seg`` scores a single region as
  foreground under both protocols, so its IoU is the foreground fraction of each image.
- ``kmeans-rgb``: K-means on the pixel colours of each image separately (scipy's ``kmeans2``,
  k-means++ start, ``iterations`` rounds, one seeded generator for the whole split, in image
  order: the same numbers as ``docs/experiments/baselines.py``), regions ordered by size
  (0 = largest) so that the ``fixed`` protocol can pick one foreground set for all images.
  About 1 ms per 32 px image and 8 ms per 128 px image on one core.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from fdiff.data.hdf5 import inspect_split, open_dataset, read_attrs
from fdiff.errors import FdiffError

log = logging.getLogger(__name__)

PRIOR_KINDS = ("disc", "all-foreground", "kmeans-rgb")
FALLBACK_RADIUS = 0.3  # of min(H, W), when the data has no training masks
BLOCK = 256  # images read at a time


@dataclass(frozen=True)
class PriorConfig:
    """Which prior and its settings."""

    kind: str  # one of PRIOR_KINDS
    clusters: int = 3  # K of kmeans-rgb
    seed: int = 0  # kmeans-rgb's k-means++ start
    iterations: int = 20  # kmeans-rgb's Lloyd rounds
    fit_split: str = "train"  # where the disc's area comes from


def foreground_fraction(data: str | Path, split: str = "train") -> float | None:
    """Mean over images of the foreground (non-zero) fraction of ``/{split}/masks``, pixels
    equal to the file's ``ignore_index`` left out; None when the split or its masks are absent."""
    attrs = read_attrs(data)
    ignore = attrs.get("ignore_index")
    ignore = None if ignore in (None, "") else int(ignore)
    with h5py.File(data, "r") as f:
        if split not in f or "masks" not in f[split]:
            return None
        masks = f[split]["masks"]
        if len(masks) == 0:
            return None
        fractions = []
        for s in range(0, len(masks), BLOCK):
            m = masks[s : s + BLOCK]  # [B, H, W] uint8
            valid = (m != ignore) if ignore is not None else np.ones(m.shape, bool)
            fg = ((m > 0) & valid).sum((1, 2))
            fractions.append(fg / np.maximum(valid.sum((1, 2)), 1))
    return float(np.concatenate(fractions).mean())


def disc_radius(height: int, width: int, fraction: float | None) -> float:
    """Radius in pixels of the centred disc covering ``fraction`` of an H x W image (None: the
    fallback 0.3 * min(H, W))."""
    if fraction is None:
        return FALLBACK_RADIUS * min(height, width)
    if not 0.0 <= fraction <= 1.0:
        raise FdiffError(f"foreground fraction {fraction}: expected a value in [0, 1]")
    return math.sqrt(fraction * height * width / math.pi)


def disc_map(height: int, width: int, radius: float) -> np.ndarray:
    """[H x W] uint8: 1 where a pixel's centre lies within ``radius`` of the image centre."""
    y = np.arange(height) + 0.5 - height / 2
    x = np.arange(width) + 0.5 - width / 2
    return (np.hypot(y[:, None], x[None, :]) <= radius).astype(np.uint8)


def kmeans_rgb_image(
    image: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 20
) -> np.ndarray:
    """Regions [H x W] uint8 of one RGB image [H x W x 3] uint8 by K-means on its pixel colours,
    ordered by size (0 = largest; empty clusters last)."""
    from scipy.cluster.vq import kmeans2  # 0.3 s to import: only the kind that clusters pays

    h, w, _ = image.shape
    px = image.reshape(-1, 3).astype(np.float64) / 255.0
    with warnings.catch_warnings():  # flat images: empty clusters, 0 / 0 in the update
        warnings.simplefilter("ignore")
        _, lab = kmeans2(px, k, minit="++", seed=rng, iter=iterations)
    counts = np.bincount(lab, minlength=k)
    rank = np.empty(k, np.int64)
    rank[np.argsort(-counts, kind="stable")] = np.arange(k)
    return rank[lab].reshape(h, w).astype(np.uint8)


def kmeans_rgb(images: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 20):
    """[N x H x W] uint8 regions of images [N x H x W x 3] uint8, one K-means per image."""
    return np.stack([kmeans_rgb_image(im, k, rng, iterations) for im in images]).reshape(
        images.shape[:3]
    )


def prior_masks(data: str | Path, split: str, cfg: PriorConfig) -> tuple[np.ndarray, dict]:
    """Region maps [N x H x W] uint8 of a split and the attributes describing them."""
    if cfg.kind not in PRIOR_KINDS:
        raise FdiffError(f"{cfg.kind!r}: expected one of {', '.join(PRIOR_KINDS)}", arg="kind")
    with open_dataset(data) as f:  # a missing file or split is named in one line
        info = inspect_split(f, split, data)
        n, h, w = info.n, info.height, info.width
        if cfg.kind == "all-foreground":
            return np.zeros((n, h, w), np.uint8), {"num_regions": 1}
        if cfg.kind == "disc":
            fraction = foreground_fraction(data, cfg.fit_split)
            radius = disc_radius(h, w, fraction)
            if fraction is None:
                log.info("no %s masks in %s: disc radius 0.3 * size", cfg.fit_split, data)
            masks = np.broadcast_to(disc_map(h, w, radius), (n, h, w)).copy()
            attrs = {
                "num_regions": 2,
                "disc_radius": radius,
                "disc_fraction": "" if fraction is None else fraction,
                "fit_split": "" if fraction is None else cfg.fit_split,
            }
            return masks, attrs
        if cfg.clusters < 2 or cfg.clusters > 255:
            raise FdiffError(f"{cfg.clusters}: expected 2 <= K <= 255 colour clusters", arg="k")
        rng = np.random.default_rng(cfg.seed)
        images = f[split]["images"]
        masks = np.empty((n, h, w), np.uint8)
        for s in range(0, n, BLOCK):
            masks[s : s + BLOCK] = kmeans_rgb(
                images[s : s + BLOCK], cfg.clusters, rng, cfg.iterations
            )
        attrs = {
            "num_regions": cfg.clusters,
            "kmeans_clusters": cfg.clusters,
            "kmeans_iterations": cfg.iterations,
            "seed": cfg.seed,
        }
        return masks, attrs


def run_prior(data: str | Path, split: str, out: str | Path, cfg: PriorConfig) -> np.ndarray:
    """``fdiff baseline-prior``: segment a split and write the segmentation file."""
    from fdiff.inference.predictions import write_segmentation

    start = time.monotonic()
    masks, extra = prior_masks(data, split, cfg)
    attrs = {"data": str(data), "split": split, "t": -1, "method": cfg.kind, "checkpoint": ""}
    write_segmentation(out, masks, attrs | extra)
    log.info(
        "%s on %d images of %s/%s in %.2f s (K = %d)",
        cfg.kind,
        len(masks),
        data,
        split,
        time.monotonic() - start,
        extra["num_regions"],
    )
    return masks
