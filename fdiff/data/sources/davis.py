"""DAVIS 2017 (480p) frames with binary foreground masks (zero-shot evaluation).

Raw layout (``fdiff download davis``): ``DAVIS/JPEGImages/480p/<sequence>/<frame>.jpg``,
``DAVIS/Annotations/480p/<sequence>/<frame>.png`` (palette PNG, one index per object) and
``DAVIS/ImageSets/2017/{train,val}.txt``. Every annotated object is foreground (1). The
854x480 frames are centre-cropped to 480x480 like every other dataset. Names are
``<sequence>/<frame>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fdiff.data.download import read_sources
from fdiff.data.preprocess import open_image
from fdiff.data.sources.common import Item, Plan, require
from fdiff.errors import FdiffError


def davis_mask(path: Path) -> np.ndarray:
    """Annotation PNG -> uint8 [H, W]: 1 where any object index is non-zero."""
    m = np.asarray(open_image(path, mode=None))
    if m.ndim == 3:
        m = m.max(axis=2)
    return (m != 0).astype(np.uint8)


def plan(raw: Path) -> Plan:
    root = require(raw / "DAVIS", "DAVIS/ unpacked from DAVIS-2017-trainval-480p.zip")
    frames = root / "JPEGImages" / "480p"
    annos = root / "Annotations" / "480p"
    splits = {}
    for split in ("train", "val"):
        lst = require(root / "ImageSets" / "2017" / f"{split}.txt", "the DAVIS sequence list")
        items = []
        for seq in lst.read_text().split():
            seq_dir = require(frames / seq, f"frames of sequence {seq}")
            jpgs = sorted(seq_dir.glob("*.jpg"))
            if not jpgs:
                raise FdiffError(f"{seq_dir}: no .jpg frames")
            items += [Item(p, annos / seq / f"{p.stem}.png", name=f"{seq}/{p.stem}") for p in jpgs]
        splits[split] = items
    return Plan(
        dataset="davis",
        splits=splits,
        num_classes=2,
        mask_decoder=davis_mask,
        sources=read_sources(raw),
        extra={"mask_rule": "any object index != 0"},
    )
