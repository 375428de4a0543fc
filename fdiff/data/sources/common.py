"""What every dataset preparer shares: the item list, the decode step and the HDF5 write.

A preparer turns a raw directory into a :class:`Plan`: per split a list of :class:`Item` (image
path, optional mask path, label, name), a mask decoder (the dataset's mask rule), attributes
for provenance. :func:`run_plan` checks that every file exists before any work starts (a
missing mask fails at once, naming it), then decodes and resizes the items (optionally in a
process pool) and streams them into the HDF5 file through an atomic writer: an error or an
interruption leaves no output behind.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fdiff.data.hdf5 import DatasetAttrs, open_writer
from fdiff.data.preprocess import (
    PREPROCESSING,
    check_same_size,
    open_image,
    resize_image,
    resize_mask,
)
from fdiff.errors import FdiffError
from fdiff.progress import progress as pbar

log = logging.getLogger(__name__)

BATCH = 256  # items decoded before each HDF5 write

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm")


@dataclass(frozen=True)
class Item:
    """One sample: image file, optional mask file, class label (-1: none) and a name."""

    image: Path
    mask: Path | None = None
    label: int = -1
    name: str = ""


MaskDecoder = Callable[[Path], np.ndarray]  # mask file -> uint8 label map [H, W]


@dataclass
class Plan:
    """Everything :func:`run_plan` needs to write one dataset file."""

    dataset: str
    splits: dict[str, Sequence[Item]]
    num_classes: int | None  # None: the largest mask id found plus one
    mask_decoder: MaskDecoder | None = None
    masks_match_image: bool = True  # masks must have the image's size (False: CelebAMask)
    labels: bool = False
    sources: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
    preprocessing_note: str = ""


def require(path: Path, what: str) -> Path:
    """``path`` if it exists; otherwise a one-line FdiffError naming it and what it should be."""
    if not path.exists():
        raise FdiffError(f"{path}: not found (expected {what})")
    return path


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by relative path."""
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def _load(item: Item, res: int, decoder: MaskDecoder | None, same_size: bool):
    image = open_image(item.image)
    mask = None
    if item.mask is not None and decoder is not None:
        full = decoder(item.mask)
        if same_size:
            check_same_size(image, full, item.mask)
        mask = resize_mask(full, res)
    return resize_image(image, res), mask


def run_plan(plan: Plan, res: int, out: str | Path, workers: int = 0) -> dict[str, int]:
    """Decode, resize and write every item of ``plan`` to ``out``; return items per split."""
    for split, items in plan.splits.items():
        for it in items:
            if not it.image.is_file():
                raise FdiffError(f"{it.image}: image not found ({plan.dataset} {split} split)")
            if it.mask is not None and not it.mask.is_file():
                raise FdiffError(f"{it.mask}: missing mask for image {it.image}")
    has_masks = plan.mask_decoder is not None
    attrs = DatasetAttrs(
        dataset=plan.dataset,
        resolution=res,
        num_classes=plan.num_classes or 0,
        preprocessing=PREPROCESSING.format(res=res) + plan.preprocessing_note,
        sources=plan.sources,
        extra=plan.extra,
    )
    load = functools.partial(
        _load, res=res, decoder=plan.mask_decoder, same_size=plan.masks_match_image
    )
    # fork (Linux): the children only decode with Pillow/numpy, and fork needs no importable
    # __main__ (spawn re-imports it, which fails for stdin scripts and notebooks).
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ctx.Pool(workers) if workers > 1 else None
    counts = {}
    max_id = 0
    t0 = time.perf_counter()
    try:
        with open_writer(out, attrs) as w:
            for split, items in plan.splits.items():
                w.create_split(split, len(items), masks=has_masks, labels=plan.labels, names=True)
                results = pool.imap(load, items, chunksize=16) if pool else map(load, items)
                bar = pbar(total=len(items), desc=f"{plan.dataset} {split}", unit="img")
                with bar:
                    for start in range(0, len(items), BATCH):
                        chunk = items[start : start + BATCH]
                        loaded = [next(results) for _ in chunk]
                        w.write(
                            split,
                            start,
                            np.stack([im for im, _ in loaded]),
                            np.stack([m for _, m in loaded]) if has_masks else None,
                            np.array([it.label for it in chunk], np.int64) if plan.labels else None,
                            [it.name or it.image.name for it in chunk],
                        )
                        bar.update(len(chunk))
                        if has_masks:
                            max_id = max(max_id, *(int(m.max()) for _, m in loaded))
                counts[split] = len(items)
            if plan.num_classes is None:
                w.f.attrs["num_classes"] = max_id + 1
    finally:
        if pool is not None:
            pool.terminate()
    n = sum(counts.values())
    dt = time.perf_counter() - t0
    log.info(
        "%s: wrote %s (%d images, %.0f images/s) -> %s",
        plan.dataset,
        counts,
        n,
        n / max(dt, 1e-9),
        out,
    )
    return counts
