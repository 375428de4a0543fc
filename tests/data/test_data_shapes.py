"""Synthetic shapes: determinism, exact masks, the difficulty knob, the CLI verb."""

from __future__ import annotations

import numpy as np
import pytest
from datahelp import md5, run
from scipy.cluster.vq import kmeans2

from fdiff.data.hdf5 import read_attrs, read_images, read_masks
from fdiff.data.shapes import LEVELS, ShapesConfig, generate_split, write_shapes
from fdiff.errors import FdiffError


def test_same_seed_same_bytes_and_split_independence(tmp_path):
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    write_shapes(ShapesConfig(resolution=16, num_train=40, num_val=8, num_test=8, seed=1), a)
    write_shapes(ShapesConfig(resolution=16, num_train=40, num_val=8, num_test=8, seed=1), b)
    write_shapes(ShapesConfig(resolution=16, num_train=300, num_val=8, num_test=8, seed=2), c)
    assert md5(a) == md5(b)  # byte-identical files
    assert not np.array_equal(read_images(a, "test"), read_images(c, "test"))
    # the test split does not depend on the train size
    cfg = ShapesConfig(resolution=16, num_train=300, seed=1)
    im, _ = generate_split(cfg, "test", 8)
    assert np.array_equal(im, read_images(a, "test"))


@pytest.mark.parametrize("level", list(LEVELS))
def test_images_masks_and_attributes(tmp_path, level):
    out = tmp_path / "s.h5"
    rc, err = run(
        "shapes",
        "--res",
        24,
        "--out",
        out,
        "--difficulty",
        level,
        "--num-train",
        30,
        "--num-val",
        5,
        "--num-test",
        6,
    )
    assert rc == 0, err
    images, masks = read_images(out, "train"), read_masks(out, "train")
    assert images.shape == (30, 24, 24, 3) and images.dtype == np.uint8
    assert masks.shape == (30, 24, 24) and set(np.unique(masks)) <= {0, 1}
    fg = masks.reshape(30, -1).mean(1)
    assert (fg > 0.01).all() and (fg < 0.9).all()  # every image has a visible object
    assert len(read_images(out, "test")) == 6
    attrs = read_attrs(out)
    assert attrs["dataset"] == "shapes" and attrs["num_classes"] == 2
    assert attrs["config"]["difficulty"] == level


def test_masks_are_exact_on_flat_images():
    # easy: flat object on flat background, no noise: exactly two colours split by the mask
    images, masks = generate_split(ShapesConfig(resolution=32, difficulty="easy"), "val", 20)
    for im, m in zip(images, masks, strict=True):
        assert len(np.unique(im[m == 1], axis=0)) == 1
        assert len(np.unique(im[m == 0], axis=0)) == 1
        assert not np.array_equal(im[m == 1][0], im[m == 0][0])


def _kmeans_iou(images, masks) -> float:
    """Per-image K-means (K=2) on pixel colour, best of the two assignments: mean IoU."""
    ious = []
    for im, m in zip(images, masks, strict=True):
        x = im.reshape(-1, 3).astype(np.float64)
        _, lab = kmeans2(x, 2, seed=0, minit="++")
        g = m.ravel() == 1
        best = 0.0
        for p in (lab == 1, lab == 0):
            best = max(best, (p & g).sum() / max((p | g).sum(), 1))
        ious.append(best)
    return float(np.mean(ious))


def test_difficulty_knob_defeats_colour_clustering():
    scores = {}
    for level in LEVELS:
        images, masks = generate_split(ShapesConfig(resolution=32, difficulty=level), "test", 40)
        scores[level] = _kmeans_iou(images, masks)
    assert scores["easy"] > 0.95
    assert scores["easy"] > scores["medium"] > scores["hard"]
    assert scores["hard"] < 0.6


def test_bad_config():
    with pytest.raises(FdiffError, match="difficulty 'extreme'"):
        ShapesConfig(difficulty="extreme")
    with pytest.raises(FdiffError, match="num_train = -1"):
        ShapesConfig(num_train=-1)


def test_full_cli_dispatch(tmp_path):
    from fdiff.cli import main

    out = tmp_path / "m.h5"
    assert (
        main(
            [
                "shapes",
                "--res",
                "8",
                "--out",
                str(out),
                "--num-train",
                "3",
                "--num-val",
                "0",
                "--num-test",
                "1",
            ]
        )
        == 0
    )
    assert read_images(out, "train").shape == (3, 8, 8, 3)
