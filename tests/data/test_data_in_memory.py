"""A split held in RAM serves exactly the bytes the per-image HDF5 reads serve."""

from __future__ import annotations

import torch

from fdiff.data.loader import H5ImageDataset


def test_in_memory_equals_chunk_reads(shapes16, monkeypatch):
    idx = [5, 0, 31, 7, 7]
    ram = H5ImageDataset(shapes16, "train", uint8=True, in_memory=True)
    disk = H5ImageDataset(shapes16, "train", uint8=True, in_memory=False)
    assert ram._array is not None and disk._array is None
    assert torch.equal(ram.get_batch(idx)[0], disk.get_batch(idx)[0])
    # the automatic choice follows $FDIFF_IN_MEMORY_MAX_GB
    monkeypatch.setenv("FDIFF_IN_MEMORY_MAX_GB", "0")
    assert H5ImageDataset(shapes16, "train")._array is None
    monkeypatch.setenv("FDIFF_IN_MEMORY_MAX_GB", "1")
    assert H5ImageDataset(shapes16, "train")._array is not None
