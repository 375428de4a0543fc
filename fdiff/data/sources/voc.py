"""PASCAL VOC 2012 segmentation (zero-shot evaluation in the appendix).

Raw layout (``fdiff download voc``): ``VOCdevkit/VOC2012/`` with ``JPEGImages/<id>.jpg``,
``SegmentationClass/<id>.png`` (palette PNG: 0 background, 1..20 classes, 255 void boundary)
and ``ImageSets/Segmentation/{train,val}.txt``. Masks keep the class ids and 255 (attribute
``ignore_index``); ``class_names`` lists the 21 classes, which the ImageNet-to-VOC mapping of
Table 7 needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fdiff.data.download import read_sources
from fdiff.data.preprocess import open_image
from fdiff.data.sources.common import Item, Plan, require
from fdiff.data.voc_classes import CLASSES
from fdiff.errors import FdiffError

IGNORE = 255


def voc_mask(path: Path) -> np.ndarray:
    """Palette PNG -> uint8 [H, W] of class ids (0..20) and 255 (void)."""
    im = open_image(path, mode=None)
    if im.mode not in ("P", "L"):
        raise FdiffError(f"{path}: mode {im.mode}, expected a palette (P) class-index PNG")
    m = np.asarray(im)
    bad = np.setdiff1d(np.unique(m), [*range(len(CLASSES)), IGNORE])
    if bad.size:
        raise FdiffError(f"{path}: class ids {bad.tolist()} outside 0..20 and 255")
    return m.astype(np.uint8)


def plan(raw: Path) -> Plan:
    root = require(raw / "VOCdevkit" / "VOC2012", "VOCdevkit/VOC2012 from the VOC 2012 tar")
    sets = root / "ImageSets" / "Segmentation"
    splits = {}
    for split in ("train", "val"):
        ids = require(sets / f"{split}.txt", "the VOC segmentation image list").read_text().split()
        splits[split] = [
            Item(root / "JPEGImages" / f"{i}.jpg", root / "SegmentationClass" / f"{i}.png", name=i)
            for i in ids
        ]
    return Plan(
        dataset="voc",
        splits=splits,
        num_classes=len(CLASSES),
        mask_decoder=voc_mask,
        sources=read_sources(raw),
        extra={"class_names": list(CLASSES), "ignore_index": IGNORE},
    )
