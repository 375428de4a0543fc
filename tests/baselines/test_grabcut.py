"""GrabCut from a centred rectangle on synthetic images with an obvious object."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd

from fdiff.baselines.grabcut import GrabCutConfig, centred_rect, grabcut_image
from fdiff.cli import main
from fdiff.data.hdf5 import DatasetAttrs, write_arrays


def disc_image(seed: int, size: int = 48, radius: int = 11):
    """A red disc, off-centre, on a noisy green background; returns (image, mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size // 2 + rng.integers(-4, 5), size // 2 + rng.integers(-4, 5)
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).astype(np.uint8)
    img = np.empty((size, size, 3), np.float64)
    img[...] = (40, 150, 50)
    img[mask == 1] = (210, 40, 40)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_rectangle_is_centred_with_the_margin():
    assert centred_rect(100, 50, 0.1) == (5, 10, 40, 80)
    assert centred_rect(8, 8, 0.0) == (1, 1, 6, 6)  # at least one pixel of sure background


def test_grabcut_finds_the_obvious_object():
    img, mask = disc_image(0)
    fg, ok = grabcut_image(img, GrabCutConfig())
    assert ok and fg.shape == mask.shape and fg.dtype == np.uint8
    assert iou(fg.astype(bool), mask.astype(bool)) > 0.9


def test_where_opencv_cannot_run_the_rectangle_is_the_answer():
    fg, ok = grabcut_image(np.zeros((1, 5, 3), np.uint8), GrabCutConfig())  # no room for a box
    assert not ok and fg.shape == (1, 5)


def test_baseline_grabcut_verb_and_eval(tmp_path):
    pairs = [disc_image(s) for s in range(3)]
    images = np.stack([p[0] for p in pairs])
    masks = np.stack([p[1] for p in pairs])
    data = tmp_path / "discs.h5"
    write_arrays(
        data, DatasetAttrs("discs", 48, 2, "none"), {"test": {"images": images, "masks": masks}}
    )
    out = tmp_path / "gc.h5"
    assert (
        main(["baseline-grabcut", "--data", str(data), "--split", "test", "--out", str(out)]) == 0
    )
    with h5py.File(out) as f:
        assert f["masks"].shape == (3, 48, 48)
        assert f.attrs["method"] == "grabcut" and f.attrs["num_regions"] == 2
    csv = tmp_path / "m.csv"
    assert main(["eval-seg", "--pred", str(out), "--data", str(data), "--out", str(csv)]) == 0
    row = pd.read_csv(csv).iloc[0]
    assert row.method == "grabcut" and row.iou > 0.9 and row.acc > 0.95
