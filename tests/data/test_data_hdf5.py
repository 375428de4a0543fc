"""The dataset HDF5 format: round trip, the torch Dataset, the loader, and bad files."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import torch

from fdiff.data.hdf5 import (
    DatasetAttrs,
    read_attrs,
    read_images,
    read_labels,
    read_masks,
    write_arrays,
)
from fdiff.data.loader import H5ImageDataset, H5Loader
from fdiff.errors import FdiffError


def _file(tmp_path, n=12, res=8, labels=True):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, res, res, 3), dtype=np.uint8)
    masks = rng.integers(0, 2, (n, res, res), dtype=np.uint8)
    arrays = {"images": images, "masks": masks}
    if labels:
        arrays["labels"] = np.arange(n, dtype=np.int64) % 3
    path = tmp_path / "d.h5"
    attrs = DatasetAttrs("toy", res, 2, "none", sources={"a.tgz": "md5:00"})
    write_arrays(path, attrs, {"train": arrays, "test": {"images": images[:4]}})
    return path, images, masks


def test_round_trip_and_attributes(tmp_path):
    path, images, masks = _file(tmp_path)
    assert np.array_equal(read_images(path, "train"), images)
    assert np.array_equal(read_masks(path, "train"), masks)
    assert read_labels(path, "train").tolist() == [0, 1, 2] * 4
    attrs = read_attrs(path)
    assert attrs["dataset"] == "toy" and attrs["resolution"] == 8 and attrs["num_classes"] == 2
    assert attrs["sources"] == {"a.tgz": "md5:00"}
    assert attrs["fdiff_version"]
    with h5py.File(path) as f:
        assert f["train/images"].chunks == (1, 8, 8, 3)  # one image per chunk


def test_dataset_items_values_and_labels(tmp_path):
    path, images, _ = _file(tmp_path)
    ds = H5ImageDataset(path, "train")
    x, y = ds[5]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    expect = torch.from_numpy(images[5]).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(x, expect, atol=1e-6)
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert int(y) == 5 % 3
    _, y = H5ImageDataset(path, "test")[0]
    assert int(y) == -1  # no labels in this split
    with pytest.raises(IndexError):
        ds[12]


def test_flip_is_a_horizontal_mirror(tmp_path):
    path, images, _ = _file(tmp_path)
    torch.manual_seed(0)
    ds = H5ImageDataset(path, "train", flip=True)
    plain = torch.from_numpy(images[3]).permute(2, 0, 1).float() / 127.5 - 1
    seen = set()
    for _ in range(20):
        x, _ = ds[3]
        if torch.allclose(x, plain, atol=1e-6):
            seen.add("same")
        else:
            assert torch.allclose(x, plain.flip(-1), atol=1e-6)
            seen.add("flipped")
    assert seen == {"same", "flipped"}


def test_pickles_and_loads_in_workers(tmp_path):
    path, images, _ = _file(tmp_path)
    ds = H5ImageDataset(path, "train")
    ds[0]  # opens the file in this process
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._file is None and torch.equal(clone[1][0], ds[1][0])
    loader = H5Loader(path, "train", batch_size=4, workers=1, shuffle=False)
    batches = list(loader)
    assert len(batches) == 3
    x, y = batches[0]
    assert x.shape == (4, 3, 8, 8) and y.tolist() == [0, 1, 2, 0]
    expect = torch.from_numpy(images[:4]).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.allclose(x, expect, atol=1e-6)
    # default DataLoader collate works on the batched __getitems__ path too
    dl = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=False)
    x, y = next(iter(dl))
    assert x.shape == (5, 3, 8, 8) and y.tolist() == [0, 1, 2, 0, 1]


def test_errors_name_file_and_key(tmp_path):
    path, _, _ = _file(tmp_path)
    with pytest.raises(FdiffError, match=r"d\.h5: no split 'val'"):
        H5ImageDataset(path, "val")
    with pytest.raises(FdiffError, match="has no masks"):
        read_masks(path, "test")
    with pytest.raises(FdiffError, match="not found"):
        read_images(tmp_path / "missing.h5", "train")

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["train/images"] = np.zeros((2, 4, 4, 3), np.float32)
    with pytest.raises(FdiffError, match=r"bad\.h5: /train/images has dtype float32"):
        read_images(bad, "train")
    with h5py.File(bad, "w") as f:
        f["train/images"] = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(FdiffError, match=r"shape \(2, 4, 4\), expected \[N, H, W, 3\]"):
        H5ImageDataset(bad, "train")
    with h5py.File(bad, "w") as f:
        f["train/images"] = np.zeros((2, 4, 4, 3), np.uint8)
        f["train/masks"] = np.zeros((2, 4, 5), np.uint8)
    with pytest.raises(FdiffError, match=r"/train/masks has shape \(2, 4, 5\)"):
        read_masks(bad, "train")
    with h5py.File(bad, "w") as f:
        f["x"] = 1
    with pytest.raises(FdiffError, match="missing key /x/images|no split"):
        read_images(bad, "x")

    data = path.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 3])
    with pytest.raises(FdiffError, match=r"trunc\.h5: not a readable HDF5 file"):
        read_images(trunc, "train")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(FdiffError, match=r"text\.h5: not a readable HDF5 file"):
        H5ImageDataset(text, "train")


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "x.h5"
    attrs = DatasetAttrs("toy", 4, 2, "none")
    with pytest.raises(KeyError):
        write_arrays(path, attrs, {"train": {"masks": np.zeros((1, 4, 4), np.uint8)}})
    assert list(tmp_path.iterdir()) == []
