"""CUB-200-2011 with ReDO's split and mask rule.

Raw layout (``fdiff download cub``): ``CUB_200_2011/images.txt`` ("id relative/path.jpg"),
``CUB_200_2011/images/<class>/<image>.jpg``, ``segmentations/<class>/<image>.png`` and ReDO's
``train_val_test_split.txt`` ("image_id label", label 0/1/2 = train/val/test; 10,000 / 788 /
1,000 images in the real file).

Mask rule (ReDO): channel 0 of the PNG scaled to [0, 1], foreground where > 0.5.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from fdiff.data.download import file_digests, read_sources
from fdiff.data.preprocess import open_image
from fdiff.data.sources.common import Item, Plan, require
from fdiff.errors import FdiffError

log = logging.getLogger(__name__)

SPLIT_FILE = "train_val_test_split.txt"
REDO_COUNTS = {"train": 10_000, "val": 788, "test": 1_000}


def cub_mask(path: Path) -> np.ndarray:
    """Segmentation PNG -> uint8 [H, W]: channel 0 / 255 > 0.5."""
    seg = np.asarray(open_image(path, mode=None))
    if seg.ndim == 3:
        seg = seg[..., 0]
    return (seg.astype(np.float32) / 255.0 > 0.5).astype(np.uint8)


def _read_pairs(path: Path, what: str) -> list[tuple[int, str]]:
    pairs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise FdiffError(f"{path}: line {n} is {line!r}, expected {what}")
        pairs.append((int(parts[0]), parts[1]))
    return pairs


def plan(raw: Path) -> Plan:
    root = require(raw / "CUB_200_2011", "CUB_200_2011/ unpacked from CUB_200_2011.tgz")
    require(raw / "segmentations", "segmentations/ unpacked from segmentations.tgz")
    split_path = require(raw / SPLIT_FILE, f"ReDO's {SPLIT_FILE} (fdiff download cub)")
    files = dict(_read_pairs(require(root / "images.txt", "CUB images.txt"), "'id path'"))
    labels = _read_pairs(split_path, "'image_id label' with label 0, 1 or 2")
    split_of = {}
    for image_id, lab in labels:
        if lab not in ("0", "1", "2"):
            raise FdiffError(f"{split_path}: image {image_id} has label {lab!r}, expected 0/1/2")
        split_of[image_id] = ("train", "val", "test")[int(lab)]
    if set(split_of) != set(files):
        extra = sorted(set(split_of) - set(files))[:5]
        missing = sorted(set(files) - set(split_of))[:5]
        raise FdiffError(
            f"{split_path}: image ids do not match {root / 'images.txt'} "
            f"(not in images.txt: {extra}; without a split: {missing})"
        )
    splits: dict[str, list[Item]] = {"train": [], "val": [], "test": []}
    for image_id in sorted(files):
        rel = files[image_id]
        splits[split_of[image_id]].append(
            Item(root / "images" / rel, raw / "segmentations" / (rel[:-3] + "png"), name=rel)
        )
    counts = {k: len(v) for k, v in splits.items()}
    if len(files) == sum(REDO_COUNTS.values()) and counts != REDO_COUNTS:
        raise FdiffError(f"{split_path}: split sizes {counts}, expected ReDO's {REDO_COUNTS}")
    sources = read_sources(raw)
    if SPLIT_FILE not in sources:
        sources[SPLIT_FILE] = f"md5:{file_digests(split_path)['md5']} (unverified)"
    return Plan(
        dataset="cub",
        splits=splits,
        num_classes=2,
        mask_decoder=cub_mask,
        sources=sources,
        extra={
            "split_rule": "ReDO datasplits/cub/train_val_test_split.txt (0/1/2)",
            "mask_rule": "channel 0 / 255 > 0.5",
        },
    )
