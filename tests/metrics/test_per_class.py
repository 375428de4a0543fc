"""``fdiff eval-seg --multiclass --per-class`` (Table 7's cells) and VOC's void pixels: hand-made
4 x 4 masks with every number worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fdiff.cli import main
from fdiff.data.hdf5 import DatasetAttrs, write_arrays
from fdiff.errors import FdiffError
from fdiff.inference.predictions import write_segmentation
from fdiff.metrics.seg_files import EvalRequest, evaluate_per_class
from fdiff.report.tables import build_table

VOID = 255
NAMES = ["background", "cat", "dog", "bird"]


@pytest.fixture
def voc_like(tmp_path):
    """Three 4 x 4 images, classes 0 background, 1 cat, 2 dog, 3 bird (absent), 255 void.

    A: left half cat, pixel (0, 3) void; regions: 1 = left half, 0 = right half (perfect).
    B: top half dog; regions: 2 = top half, 0 = bottom half (perfect).
    C: rows 0-1 cat, rows 2-3 background, pixel (3, 3) void; regions: 1 = row 0, 0 = the rest.
    """
    gt = np.zeros((3, 4, 4), np.uint8)
    pred = np.zeros((3, 4, 4), np.uint8)
    gt[0, :, :2] = 1
    gt[0, 0, 3] = VOID
    pred[0, :, :2] = 1
    gt[1, :2] = 2
    pred[1, :2] = 2
    gt[2, :2] = 1
    gt[2, 3, 3] = VOID
    pred[2, 0] = 1
    images = np.zeros((3, 4, 4, 3), np.uint8)
    data = tmp_path / "voc.h5"
    attrs = DatasetAttrs("voc", 4, 4, "none", extra={"class_names": NAMES, "ignore_index": VOID})
    write_arrays(data, attrs, {"val": {"images": images, "masks": gt}})
    seg = tmp_path / "seg.h5"
    write_segmentation(
        seg, pred, {"data": str(data), "split": "val", "t": 30, "num_regions": 3, "method": "f"}
    )
    return data, seg


# Image C per image: cat TP 4 of pred 4, true 8 -> IoU 1/2; background: pred 11 (the void pixel
# left out), true 7, TP 7 -> IoU 7/11; acc 11/15.
C_ACC, C_MIOU = 11 / 15, (1 / 2 + 7 / 11) / 2


def _run(data, seg, out, protocol):
    argv = ["eval-seg", "--pred", str(seg), "--data", str(data), "--split", "val"]
    argv += ["--protocol", protocol, "--multiclass", "--per-class", "--out", str(out)]
    assert main(argv) == 0
    return pd.read_csv(out)


def test_per_image_rows_per_class_skip_void_pixels_and_feed_table7(voc_like, tmp_path):
    data, seg = voc_like
    df = _run(data, seg, tmp_path / "classes.csv", "per_image")
    assert list(df["class"]) == ["cat", "dog"]  # bird: in no image, no row
    assert list(df.columns[:8]) == [
        *["method", "dataset", "split", "protocol", "t", "n", "num_regions"],
        "class",
    ]
    cat, dog = df.iloc[0], df.iloc[1]
    assert (cat.n, dog.n, cat.num_regions, cat.t) == (2, 1, 3, 30)
    assert cat.acc == pytest.approx((1 + C_ACC) / 2, abs=1e-6)  # images A and C
    assert cat.miou == pytest.approx((1 + C_MIOU) / 2, abs=1e-6)
    assert (dog.acc, dog.miou) == (1.0, 1.0)

    t = build_table(7, {"factorized": [tmp_path / "classes.csv"]})
    acc, miou = t.rows.index
    assert t.values.at[acc, "cat"] == pytest.approx(100 * (1 + C_ACC) / 2, abs=1e-4)
    assert t.values.at[miou, "dog"] == pytest.approx(100.0)
    assert pd.isna(t.values.at[acc, "bird"])
    assert t.values.at[acc, "mean"] == pytest.approx(100 * ((1 + C_ACC) / 2 + 1) / 2, abs=1e-4)


def test_fixed_rows_use_one_matching_and_count_only_present_classes(voc_like, tmp_path):
    data, seg = voc_like
    df = _run(data, seg, tmp_path / "fixed.csv", "fixed")
    cat = df.set_index("class").loc["cat"]
    # A + C summed: 26 of 30 scored pixels right; cat 12 / 16, background 14 / 18 (dog and
    # bird: nothing predicted or true in these images, not averaged in).
    assert cat.acc == pytest.approx(26 / 30, abs=1e-6)
    assert cat.miou == pytest.approx((12 / 16 + 14 / 18) / 2, abs=1e-6)
    assert cat.assignment == "0->0 1->1 2->2" and cat.fit_split == "val"


def test_per_class_needs_multiclass(voc_like):
    data, seg = voc_like
    with pytest.raises(FdiffError, match="scores per class need multi-class scoring"):
        evaluate_per_class(EvalRequest(seg, data, "val", per_class=True))
