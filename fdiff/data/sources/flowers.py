"""Oxford 102 Flowers with the split and mask rule of ReDO / IEM.

Raw layout (``fdiff download flowers``): ``jpg/image_%05d.jpg``, ``segmim/segmim_%05d.jpg``,
``setid.mat`` (keys trnid, valid, tstid; 1-based image ids), ``imagelabels.mat``.

Split (ReDO and IEM swap the official names; the paper's Table 1 follows IEM):
train = tstid (6,149), val = valid (1,020), test = trnid (1,020).

Mask rule: a segmim pixel is background when R == 0 or G == 0 or B == 254 (the JPEG-compressed
blue background); every other pixel is foreground (1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fdiff.data.download import read_sources
from fdiff.data.preprocess import open_image
from fdiff.data.sources.common import Item, Plan, require
from fdiff.errors import FdiffError

SPLIT_KEYS = {"train": "tstid", "val": "valid", "test": "trnid"}


def flowers_mask(path: Path) -> np.ndarray:
    """segmim JPEG [H, W, 3] -> uint8 [H, W]: 0 where R == 0 or G == 0 or B == 254, else 1."""
    seg = np.asarray(open_image(path, "RGB"))
    background = (seg[..., 0] == 0) | (seg[..., 1] == 0) | (seg[..., 2] == 254)
    return (~background).astype(np.uint8)


def read_setid(path: Path) -> dict[str, np.ndarray]:
    """The three id arrays of setid.mat, keyed by our split names."""
    from scipy.io import loadmat  # here: `fdiff --help` and every verb import this module

    try:
        mat = loadmat(path)
    except (OSError, ValueError, TypeError) as e:
        raise FdiffError(f"{path}: cannot read as a MATLAB file: {e}") from None
    out = {}
    for split, key in SPLIT_KEYS.items():
        if key not in mat:
            raise FdiffError(f"{path}: missing key {key!r} (expected trnid, valid, tstid)")
        out[split] = np.asarray(mat[key]).astype(np.int64).ravel()
    return out


def plan(raw: Path) -> Plan:
    ids = read_setid(require(raw / "setid.mat", "setid.mat from the Flowers-102 site"))
    require(raw / "jpg", "jpg/ unpacked from 102flowers.tgz")
    require(raw / "segmim", "segmim/ unpacked from 102segmentations.tgz")
    splits = {
        split: [
            Item(
                raw / "jpg" / f"image_{i:05d}.jpg",
                raw / "segmim" / f"segmim_{i:05d}.jpg",
                name=f"image_{i:05d}.jpg",
            )
            for i in ids[split]
        ]
        for split in ("train", "val", "test")
    }
    return Plan(
        dataset="flowers",
        splits=splits,
        num_classes=2,
        mask_decoder=flowers_mask,
        sources=read_sources(raw),
        extra={
            "split_rule": "train=tstid, val=valid, test=trnid (IEM/ReDO)",
            "mask_rule": "background where R==0 or G==0 or B==254",
        },
    )
