"""Segmentation metrics on hand-made masks with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fdiff.cli import main
from fdiff.data.hdf5 import DatasetAttrs, write_arrays
from fdiff.errors import FdiffError
from fdiff.inference.predictions import write_segmentation
from fdiff.metrics.segmentation import (
    SegProtocol,
    binary_metrics,
    fit_foreground_subset,
    hungarian_match,
    multiclass_metrics,
    region_subsets,
)


def proto(assignment: str, n: int, k: int) -> SegProtocol:
    return SegProtocol(split="test", assignment=assignment, n=n, num_regions=k)


def two_images() -> tuple[np.ndarray, np.ndarray]:
    """4 x 4 images. A: G = left half, region 1 = left half (perfect).
    B: G = top-left 2 x 2, region 0 = top row: P = {0} hits 2 of 4, union 6."""
    gt = np.zeros((2, 4, 4), np.uint8)
    pred = np.zeros((2, 4, 4), np.uint8)
    gt[0, :, :2] = 1
    pred[0, :, :2] = 1
    gt[1, :2, :2] = 1
    pred[1] = 1
    pred[1, 0, :] = 0
    return pred, gt


def test_per_image_scores_match_hand_computation():
    pred, gt = two_images()
    r = binary_metrics(pred, gt, 2, proto("per_image", 2, 2))
    # B's best subset is {0}: acc (16 - 4 - 4 + 2*2) / 16, IoU 2 / 6, DICE 2*2 / 8.
    assert r.acc == pytest.approx((1 + 12 / 16) / 2)
    assert r.iou == pytest.approx((1 + 1 / 3) / 2)
    assert r.dice == pytest.approx((1 + 0.5) / 2)
    assert r.foreground is None and r.protocol.assignment == "per_image"


def test_per_image_takes_the_best_subset_separately_for_each_metric():
    """As IEM: acc may prefer the inverse while IoU prefers the prediction."""
    gt = np.zeros((1, 4, 4), np.uint8)
    gt[0, 0, 0] = 1  # one foreground pixel
    pred = np.zeros((1, 4, 4), np.uint8)
    pred[0].flat[:10] = 1  # region 1: 10 pixels holding it; region 0: the other 6
    r = binary_metrics(pred, gt, 2, proto("per_image", 1, 2))
    assert r.acc == pytest.approx(9 / 16)  # from {0}: 16 - 6 - 1 = 9 correct
    assert r.iou == pytest.approx(1 / 10)  # from {1}
    assert r.dice == pytest.approx(2 / 11)  # from {1}


def test_subsets_are_the_non_empty_proper_ones_and_k2_is_iems_flip():
    assert region_subsets(2).tolist() == [[0, 1], [1, 0]]
    s = region_subsets(3)
    assert len(s) == 6 and ((s.sum(1) > 0) & (s.sum(1) < 3)).all()


def test_fixed_and_per_image_differ_when_region_meaning_flips_between_images():
    gt = np.zeros((2, 4, 4), np.uint8)
    gt[:, :, :2] = 1
    pred = np.zeros((2, 4, 4), np.uint8)
    pred[0, :, :2] = 1  # image 0: region 1 is the object
    pred[1, :, 2:] = 1  # image 1: region 0 is the object
    per = binary_metrics(pred, gt, 2, proto("per_image", 2, 2))
    assert (per.acc, per.iou, per.dice) == (1.0, 1.0, 1.0)
    # Fitted on "training" images where region 1 is the object three times out of four.
    fit_pred = np.concatenate([pred[[0, 0, 0]], pred[[1]]])
    fg = fit_foreground_subset(fit_pred, np.concatenate([gt, gt]), 2)
    assert fg == (1,)
    fixed = binary_metrics(pred, gt, 2, proto("fixed", 2, 2), foreground=fg)
    assert (fixed.acc, fixed.iou, fixed.dice) == (0.5, 0.5, 0.5)
    assert fixed.foreground == (1,)


def test_fixed_with_three_regions_uses_one_subset_for_every_image():
    gt = np.zeros((3, 2, 3), np.uint8)
    gt[:, :, 1:] = 1  # foreground: columns 1 and 2
    pred = np.tile(np.array([0, 1, 2], np.uint8), (3, 2, 1))
    assert fit_foreground_subset(pred, gt, 3) == (1, 2)
    r = binary_metrics(pred, gt, 3, proto("fixed", 3, 3), foreground=(1, 2))
    assert (r.acc, r.iou, r.dice) == (1.0, 1.0, 1.0)
    r = binary_metrics(pred, gt, 3, proto("fixed", 3, 3), foreground=(2,))
    assert r.iou == pytest.approx(0.5) and r.acc == pytest.approx(4 / 6)


def test_empty_ground_truth_and_empty_prediction_score_one():
    gt = np.zeros((1, 2, 2), np.uint8)
    pred = np.zeros((1, 2, 2), np.uint8)  # region 1 is empty
    r = binary_metrics(pred, gt, 2, proto("fixed", 1, 2), foreground=(1,))
    assert (r.acc, r.iou, r.dice) == (1.0, 1.0, 1.0)


def test_bad_inputs_raise_fdiff_errors():
    pred, gt = two_images()
    with pytest.raises(FdiffError, match="same shape"):
        binary_metrics(pred[:, :3], gt, 2, proto("per_image", 2, 2))
    with pytest.raises(FdiffError, match="K >= 1"):
        binary_metrics(pred, gt, 0, proto("per_image", 2, 0))
    with pytest.raises(FdiffError, match="region id 2"):
        binary_metrics(pred + 1, gt, 2, proto("per_image", 2, 2))
    with pytest.raises(FdiffError, match="fit_foreground_subset"):
        binary_metrics(pred, gt, 2, proto("fixed", 2, 2))


def test_hungarian_recovers_a_permutation_of_labels():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, (5, 8, 8)).astype(np.uint8)
    perm = np.array([2, 0, 1])
    pred = perm[gt].astype(np.uint8)  # region perm[c] is class c
    for assignment in ("fixed", "per_image"):
        r = multiclass_metrics(pred, gt, 3, 3, proto(assignment, 5, 3))
        assert (r.acc, r.miou) == (1.0, 1.0)
    r = multiclass_metrics(pred, gt, 3, 3, proto("fixed", 5, 3))
    assert list(r.matching) == [1, 2, 0]  # region k -> class c with perm[c] = k
    # Corrupt 10 % of the pixels: accuracy is exactly the untouched fraction.
    noisy = pred.copy()
    flat = noisy.reshape(-1)
    hit = rng.choice(flat.size, flat.size // 10, replace=False)
    flat[hit] = (flat[hit] + 1) % 3
    r = multiclass_metrics(noisy, gt, 3, 3, proto("fixed", 5, 3))
    assert r.acc == pytest.approx(1 - len(hit) / flat.size)
    assert r.matching == (1, 2, 0)


def test_hungarian_miou_by_hand():
    gt = np.array([[[0, 0, 1, 1]]], np.uint8)
    pred = np.array([[[1, 1, 1, 0]]], np.uint8)  # region 1 -> class 0, region 0 -> class 1
    r = multiclass_metrics(pred, gt, 2, 2, proto("fixed", 1, 2))
    assert r.matching == (1, 0)
    assert r.acc == pytest.approx(3 / 4)
    assert r.class_iou == pytest.approx((2 / 3, 1 / 2))
    assert r.miou == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_more_regions_than_classes_share_a_class():
    gt = np.zeros((2, 3, 3), np.uint8)
    gt[:, :, 1:] = 1
    pred = np.tile(np.array([2, 0, 1], np.uint8), (2, 3, 1))  # regions 0 and 1 are foreground
    assert list(hungarian_match(np.array([[0, 6], [0, 6], [6, 0]]))) == [1, 1, 0]
    r = multiclass_metrics(pred, gt, 3, 2, proto("fixed", 2, 3))
    assert (r.acc, r.miou) == (1.0, 1.0)


def test_fixed_multiclass_matching_can_come_from_a_fitting_split():
    gt = np.array([[[0, 1, 2]]], np.uint8)
    train_pred = np.array([[[0, 1, 2]]], np.uint8)  # identity on train
    test_pred = np.array([[[1, 0, 2]]], np.uint8)  # swapped on test
    fitted = multiclass_metrics(test_pred, gt, 3, 3, proto("fixed", 1, 3), fit=(train_pred, gt))
    assert fitted.matching == (0, 1, 2) and fitted.acc == pytest.approx(1 / 3)
    own = multiclass_metrics(test_pred, gt, 3, 3, proto("fixed", 1, 3))
    assert own.acc == 1.0


# ---------------------------------------------------------------------------------------------
# The eval-seg verb on real HDF5 files


@pytest.fixture
def files(tmp_path):
    """A binary dataset (train/test with masks) and prediction files for both splits."""
    rng = np.random.default_rng(1)
    n, r = 6, 8
    splits, preds = {}, {}
    for split in ("train", "test"):
        gt = np.zeros((n, r, r), np.uint8)
        gt[:, 2:6, 2:6] = 1
        # Region 2 is the object, regions 0/1 split the background; one test image flips 0/2.
        p = np.where(gt == 1, 2, rng.integers(0, 2, (n, r, r))).astype(np.uint8)
        if split == "test":
            p[0] = np.where(p[0] == 2, 0, 2)
        images = rng.integers(0, 256, (n, r, r, 3)).astype(np.uint8)
        splits[split] = {"images": images, "masks": gt}
        preds[split] = tmp_path / f"pred-{split}.h5"
        attrs = {"data": "d.h5", "split": split, "t": 30, "num_regions": 3, "method": "factorized"}
        write_segmentation(preds[split], p, attrs)
    data = tmp_path / "data.h5"
    write_arrays(data, DatasetAttrs("toy", r, 2, "none"), splits)
    return data, preds


def test_eval_seg_writes_the_contract_row(files, tmp_path):
    data, preds = files
    out = tmp_path / "m.csv"
    argv = ["eval-seg", "--pred", str(preds["test"]), "--data", str(data), "--split", "test"]
    assert main([*argv, "--protocol", "per_image", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    head = ["method", "dataset", "split", "protocol", "t", "n", "num_regions", "acc", "iou", "dice"]
    assert list(pd.read_csv(out).columns[:10]) == head
    assert (row.method, row.dataset, row.split, row.protocol) == (
        "factorized",
        "toy",
        "test",
        "per_image",
    )
    assert (row.t, row.n, row.num_regions) == (30, 6, 3)
    assert row.acc == pytest.approx(1.0) and row.iou == pytest.approx(1.0)

    fit = ["--fit-pred", str(preds["train"]), "--fit-split", "train"]
    assert main([*argv, "--protocol", "fixed", *fit, "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert (row.protocol, row.fit_split, row.assignment) == ("fixed", "train", "fg=2")
    # Image 0 (object in region 0) scores IoU 0: the mean over 6 images is 5/6.
    assert row.iou == pytest.approx(5 / 6)


def test_eval_seg_multiclass_and_errors(files, tmp_path, capsys):
    data, preds = files
    out = tmp_path / "mc.csv"
    base = ["eval-seg", "--pred", str(preds["test"]), "--data", str(data), "--out", str(out)]
    assert main([*base, "--protocol", "fixed", "--multiclass"]) == 0
    row = pd.read_csv(out).iloc[0]
    assert "miou" in row and "iou" not in row and 0 < row.acc < 1
    assert main([*base, "--protocol", "fixed"]) == 2
    assert "--fit-pred" in capsys.readouterr().err
    # A prediction with the wrong number of images names both files.
    short = tmp_path / "short.h5"
    write_segmentation(short, np.zeros((2, 8, 8), np.uint8), {"num_regions": 3})
    bad = ["eval-seg", "--pred", str(short), "--data", str(data), "--out", str(out)]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "short.h5" in err and "/test/masks" in err
