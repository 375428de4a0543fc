"""Prediction and sample HDF5 files (docs/contracts.md): read them with clear errors, write them.

- prediction files (``fdiff segment``, the baselines) and samples files (``fdiff sample``):
  ``masks`` [N x H x W] uint8 region ids, ``images`` [N x H x W x 3] uint8, attributes.
- dataset files are read through :mod:`fdiff.data.hdf5` (``read_masks``, ``read_images``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from fdiff.data.hdf5 import open_readonly
from fdiff.errors import FdiffError
from fdiff.io import atomic_path


def _open(path: str | Path) -> h5py.File:
    return open_readonly(path, "no such file (expected an HDF5 file)")


def _attr(v):
    """HDF5 attributes as plain Python values."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def file_attrs(path: str | Path) -> dict:
    with _open(path) as f:
        return {k: _attr(v) for k, v in f.attrs.items()}


def read_array(path: str | Path, key: str, what: str = "array") -> np.ndarray:
    """``f[key]`` as a NumPy array; FdiffError naming file and key when it is missing."""
    with _open(path) as f:
        if key not in f:
            raise FdiffError(f"{path}: no dataset '{key}' (expected the {what})")
        return f[key][()]


@dataclass
class Prediction:
    """Predicted region maps ``masks`` [N x H x W] uint8 and the file's attributes."""

    masks: np.ndarray
    attrs: dict = field(default_factory=dict)

    @property
    def num_regions(self) -> int:
        k = self.attrs.get("num_regions")
        return int(k) if k is not None else int(self.masks.max()) + 1


def read_prediction(path: str | Path) -> Prediction:
    """A segmentation or samples file: its ``masks`` and attributes."""
    masks = read_array(path, "masks", "predicted region masks [N, H, W] uint8")
    if masks.ndim != 3:
        raise FdiffError(f"{path}: 'masks' has shape {masks.shape}: expected [N, H, W]")
    return Prediction(masks=masks, attrs=file_attrs(path))


def write_segmentation(
    path: str | Path,
    masks: np.ndarray,
    attrs: dict,
    soft_masks: np.ndarray | None = None,
) -> None:
    """Write a segmentation file atomically: ``masks`` [N x H x W] uint8, optional ``soft_masks``
    [N x K x H x W] float16, and ``attrs`` (data, split, t, num_regions, method, checkpoint)."""
    if masks.ndim != 3 or masks.dtype != np.uint8:
        raise ValueError(f"masks {masks.dtype} {masks.shape}: expected uint8 [N, H, W]")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("masks", data=masks, chunks=(1, *masks.shape[1:]) if len(masks) else None)
        if soft_masks is not None:
            f.create_dataset("soft_masks", data=soft_masks.astype(np.float16))
        for k, v in attrs.items():
            f.attrs[k] = "" if v is None else v
