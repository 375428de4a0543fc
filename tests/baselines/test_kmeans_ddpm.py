"""DatasetDDPM-unsup: streaming K-means, the scaled defaults, and the verb end to end.

The end-to-end tests use a tiny standard U-Net with random weights (untrained): the pipeline
(noise at several t, decoder features, upsampling, K-means fit on train, labels on test or on
samples, the segmentation file, eval-seg on it) is the real one; the masks mean nothing.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from fdiff.baselines.kmeans_ddpm import (
    MiniBatchKMeans,
    _pixels,
    default_blocks,
    default_ts,
)
from fdiff.cli import main
from fdiff.data.hdf5 import read_images
from fdiff.metrics.segmentation import SegProtocol, multiclass_metrics


def test_streaming_kmeans_finds_three_separated_blobs():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0] * 5, [6.0] * 5, [-6.0, 6.0, -6.0, 6.0, -6.0]])
    truth = torch.randint(3, (900,), generator=g)
    x = centers[truth] + torch.randn(900, 5, generator=g)
    km = MiniBatchKMeans(3, seed=0)
    for batch in x.split(60):  # streamed: 15 updates of 60 points
        km.partial_fit(batch)
    pred = km.predict(x).numpy().astype(np.uint8)[None, None]
    proto = SegProtocol(split="x", assignment="fixed", n=1, num_regions=3)
    r = multiclass_metrics(pred, truth.numpy().astype(np.uint8)[None, None], 3, 3, proto)
    assert r.acc == 1.0
    assert torch.cdist(km.centers, centers).min(1).values.max() < 0.5


def test_defaults_are_scaled_from_the_reference():
    assert default_blocks(18) == (5, 6, 7, 8, 12)  # the reference model itself
    assert default_blocks(6) == (1, 2, 4)
    assert default_ts(1000) == (50, 150, 250)
    assert default_ts(100) == (5, 15, 25)


def test_pixel_subsampling_takes_n_per_image():
    f = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    assert _pixels(f, 0, None).shape == (32, 3)
    sub = _pixels(f, 5, torch.Generator().manual_seed(0))
    assert sub.shape == (10, 3)
    assert (sub[:5, 0] < 16).all() and (sub[5:, 0] >= 48).all()  # 5 from each image


def test_baseline_kmeans_end_to_end_on_split_and_on_samples(shapes_file, ddpm_file, tmp_path):
    out = tmp_path / "km.h5"
    common = ["--model", str(ddpm_file), "--data", str(shapes_file), "--fit-split", "train"]
    opts = ["--pixels-per-image", "32", "--batch-size", "4", "--device", "cpu"]
    assert main(["baseline-kmeans", *common, "--split", "test", *opts, "--out", str(out)]) == 0
    with h5py.File(out) as f:
        masks = f["masks"][()]
        assert masks.shape == (8, 16, 16) and masks.dtype == np.uint8 and masks.max() < 3
        assert f.attrs["method"] == "kmeans-ddpm" and f.attrs["num_regions"] == 3
        assert list(f.attrs["feature_ts"]) == [5, 15, 25]  # T = 100
        assert len(np.unique(masks)) >= 2
    csv = tmp_path / "m.csv"
    ev = ["eval-seg", "--pred", str(out), "--data", str(shapes_file), "--out", str(csv)]
    assert main(ev) == 0
    assert pd.read_csv(csv).iloc[0].method == "kmeans-ddpm"

    # Samples mode: a samples file holding the test images gets the very same labels.
    samples = tmp_path / "samples.h5"
    with h5py.File(samples, "w") as f:
        f["images"] = read_images(shapes_file, "test")
    out2 = tmp_path / "km-samples.h5"
    assert (
        main(["baseline-kmeans", *common, "--samples", str(samples), *opts, "--out", str(out2)])
        == 0
    )
    with h5py.File(out2) as f:
        assert f.attrs["split"] == "samples"
        np.testing.assert_array_equal(f["masks"][()], masks)


def test_baseline_kmeans_refuses_a_factorized_model(shapes_file, factorized_file, tmp_path, capsys):
    argv = ["baseline-kmeans", "--model", str(factorized_file), "--data", str(shapes_file)]
    assert main([*argv, "--out", str(tmp_path / "x.h5")]) == 2
    assert "standard DDPM" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("bad", [["--blocks", "99"], ["--ts", "0"]])
def test_bad_feature_settings_name_the_value(shapes_file, ddpm_file, tmp_path, capsys, bad):
    argv = ["baseline-kmeans", "--model", str(ddpm_file), "--data", str(shapes_file), *bad]
    assert main([*argv, "--fit-limit", "4", "--out", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert ("block 99" in err) if "--blocks" in bad else ("t = 0" in err)
