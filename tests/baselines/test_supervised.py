"""Supervised U-Net: training, segmenting a split, and mask consistency on samples."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from fdiff.baselines.supervised import load_seg_model, predict_classes
from fdiff.cli import main
from fdiff.data.hdf5 import read_images
from fdiff.inference.predictions import write_segmentation


@pytest.fixture(scope="module")
def seg_model(shapes_file, tmp_path_factory):
    run = tmp_path_factory.mktemp("sup")
    argv = ["train-supervised", "--data", str(shapes_file), "--out", str(run), "--preset", "tiny"]
    argv += ["--steps", "40", "--batch-size", "8", "--lr", "2e-3", "--log-every", "10"]
    assert main([*argv, "--device", "cpu"]) == 0
    return run


def test_training_writes_a_weights_only_model_and_lowers_the_loss(seg_model):
    log = pd.read_csv(seg_model / "metrics.csv")
    assert list(log.step) == [10, 20, 30, 40]
    assert log.loss.iloc[-1] < log.loss.iloc[0]
    obj = torch.load(seg_model / "model.pt", weights_only=True)
    assert obj["format"] == "fdiff-segmodel-1" and obj["num_classes"] == 2
    model = load_seg_model(seg_model / "model.pt")
    assert model.cfg.resolution == 16 and not model.training


def test_segment_supervised_writes_class_maps(seg_model, shapes_file, tmp_path):
    out = tmp_path / "sup.h5"
    argv = ["segment-supervised", "--seg-model", str(seg_model / "model.pt")]
    argv += ["--data", str(shapes_file), "--split", "test", "--out", str(out)]
    assert main([*argv, "--device", "cpu"]) == 0
    with h5py.File(out) as f:
        assert f["masks"].shape == (8, 16, 16) and f["masks"][()].max() <= 1
        assert f.attrs["method"] == "supervised-unet"
    csv = tmp_path / "m.csv"
    ev = ["eval-seg", "--pred", str(out), "--data", str(shapes_file), "--multiclass"]
    assert main([*ev, "--protocol", "fixed", "--out", str(csv)]) == 0
    assert 0 <= pd.read_csv(csv).iloc[0].miou <= 1


def test_consistency_is_one_for_relabelled_reference_masks(seg_model, shapes_file, tmp_path):
    """Samples whose masks are the reference masks under another labelling: accuracy 1."""
    model = load_seg_model(seg_model / "model.pt")
    images = read_images(shapes_file, "test")
    ref = predict_classes(model, images)
    samples = tmp_path / "samples.h5"
    with h5py.File(samples, "w") as f:
        f["images"] = images
        f["masks"] = (1 - ref).astype(np.uint8) + 1  # class c -> region 2 - c; region 0 unused
        f.attrs["num_regions"] = 3
    out = tmp_path / "acc.json"
    argv = ["consistency", "--samples", str(samples), "--seg-model", str(seg_model / "model.pt")]
    assert main([*argv, "--device", "cpu", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["acc"] == 1.0 and res["acc_per_image"] == 1.0 and res["n"] == 8
    assert res["matching"][1:] == [1, 0] and res["num_regions"] == 3

    # Another method's masks for the same samples (--masks): every pixel in one region.
    flat = tmp_path / "flat.h5"
    write_segmentation(flat, np.zeros_like(ref), {"num_regions": 3, "method": "kmeans-ddpm"})
    assert main([*argv, "--masks", str(flat), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["acc"] == pytest.approx(max(ref.mean(), 1 - ref.mean()))
    assert res["masks"] == str(flat)
