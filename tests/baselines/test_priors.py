"""The trivial and colour baselines (centred disc, all foreground, K-means on RGB): known answers
on hand-made images and masks, the verb's file, and eval-seg's scores of it."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pandas as pd
import pytest

from fdiff.baselines.priors import (
    PriorConfig,
    disc_map,
    disc_radius,
    foreground_fraction,
    kmeans_rgb,
    prior_masks,
)
from fdiff.cli import main
from fdiff.data.hdf5 import DatasetAttrs, write_arrays
from fdiff.errors import FdiffError

SIZE = 32


def two_colour(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images [n, 32, 32, 3]: a red square (size 6..14, anywhere) on blue; masks 1 inside."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    masks = np.zeros((n, SIZE, SIZE), np.uint8)
    images[...] = (20, 40, 200)
    for i in range(n):
        s = int(rng.integers(6, 15))
        y, x = rng.integers(0, SIZE - s, 2)
        masks[i, y : y + s, x : x + s] = 1
    images[masks == 1] = (220, 30, 30)
    return images, masks


@pytest.fixture
def data(tmp_path):
    """Two-colour squares: 4 train images (the bottom row of their masks void, 255), 6 test."""
    train_images, train_masks = two_colour(4, seed=1)
    train_masks[:, -1] = 255  # left out of the disc's foreground fraction
    test_images, test_masks = two_colour(6)
    path = tmp_path / "d.h5"
    attrs = DatasetAttrs("squares", SIZE, 2, "none", extra={"ignore_index": 255})
    splits = {
        "train": {"images": train_images, "masks": train_masks},
        "test": {"images": test_images, "masks": test_masks},
    }
    write_arrays(path, attrs, splits)
    return path


def test_disc_has_the_training_foreground_area(data):
    with h5py.File(data) as f:
        train = f["train/masks"][()]
    expected = (train[:, :-1] == 1).sum((1, 2)).mean() / (SIZE * (SIZE - 1))
    fraction = foreground_fraction(data, "train")
    assert fraction == pytest.approx(expected)
    r = disc_radius(SIZE, SIZE, fraction)
    assert math.pi * r**2 == pytest.approx(fraction * SIZE * SIZE)
    disc = disc_map(SIZE, SIZE, r)
    assert disc.sum() == pytest.approx(fraction * SIZE * SIZE, rel=0.05)  # pixel rounding
    assert (disc == disc[::-1]).all() and (disc == disc[:, ::-1]).all()  # centred
    assert disc[SIZE // 2, SIZE // 2] == 1 and disc[0, 0] == 0
    masks, attrs = prior_masks(data, "test", PriorConfig("disc"))
    assert masks.shape == (6, SIZE, SIZE) and (masks == disc).all()
    assert attrs["disc_fraction"] == pytest.approx(fraction) and attrs["fit_split"] == "train"


def test_disc_without_training_masks_uses_the_fixed_radius(data):
    assert foreground_fraction(data, "val") is None  # no such split
    masks, attrs = prior_masks(data, "test", PriorConfig("disc", fit_split="val"))
    assert attrs["disc_radius"] == pytest.approx(0.3 * SIZE) and attrs["disc_fraction"] == ""
    assert masks[0].sum() == pytest.approx(math.pi * (0.3 * SIZE) ** 2, rel=0.05)


def test_kmeans_rgb_is_perfect_on_two_colours_and_orders_regions_by_size():
    images, masks = two_colour(5)
    for k in (2, 3):
        regions = kmeans_rgb(images, k, np.random.default_rng(0))
        assert regions.shape == masks.shape and regions.dtype == np.uint8
        assert (regions == 0)[masks == 0].all()  # the background is the largest cluster
        assert ((regions > 0) == (masks == 1)).all()
    flat = np.full((1, 8, 8, 3), 77, np.uint8)  # one colour: one region, no crash
    assert (kmeans_rgb(flat, 3, np.random.default_rng(0)) == 0).all()


def _verb(data, kind, split, out, *extra):
    args = ["baseline-prior", "--kind", kind, "--data", str(data), "--split", split]
    assert main([*args, *extra, "--out", str(out)]) == 0
    return out


def _eval(tmp_path, data, kind, protocol):
    pred = _verb(data, kind, "test", tmp_path / f"{kind}-test.h5")
    fit = _verb(data, kind, "train", tmp_path / f"{kind}-train.h5")
    out = tmp_path / f"{kind}-{protocol}.csv"
    args = ["eval-seg", "--pred", str(pred), "--data", str(data), "--protocol", protocol]
    assert main([*args, "--fit-pred", str(fit), "--out", str(out)]) == 0
    return pd.read_csv(out).iloc[0]


@pytest.mark.parametrize("protocol", ["per_image", "fixed"])
def test_all_foreground_scores_the_foreground_fraction_under_both_protocols(
    tmp_path, data, protocol
):
    row = _eval(tmp_path, data, "all-foreground", protocol)
    with h5py.File(data) as f:
        gt = f["test/masks"][()]
    fraction = gt.reshape(len(gt), -1).mean(1)  # per image
    assert row.method == "all-foreground" and row.num_regions == 1 and pd.isna(row.t)
    assert row.iou == pytest.approx(fraction.mean(), abs=1e-6)
    assert row.acc == pytest.approx(fraction.mean(), abs=1e-6)
    assert row.dice == pytest.approx((2 * fraction / (1 + fraction)).mean(), abs=1e-6)
    if protocol == "fixed":
        assert row.assignment == "fg=0" and row.fit_split == "train"


@pytest.mark.parametrize("protocol", ["per_image", "fixed"])
def test_kmeans_rgb_verb_is_perfect_on_two_colour_images(tmp_path, data, protocol):
    row = _eval(tmp_path, data, "kmeans-rgb", protocol)
    assert row.method == "kmeans-rgb" and row.num_regions == 3
    assert row.iou == pytest.approx(1.0) and row.acc == pytest.approx(1.0)
    with h5py.File(tmp_path / "kmeans-rgb-test.h5") as f:
        assert f.attrs["t"] == -1 and f.attrs["seed"] == 0 and f.attrs["split"] == "test"


def test_bad_arguments_name_the_value(data, tmp_path):
    with pytest.raises(FdiffError, match="k: 1: expected 2 <= K"):
        prior_masks(data, "test", PriorConfig("kmeans-rgb", clusters=1))
    with pytest.raises(FdiffError, match="kind: 'box'"):
        prior_masks(data, "test", PriorConfig("box"))
    with pytest.raises(FdiffError, match="no split 'val'"):
        prior_masks(data, "val", PriorConfig("disc"))
