"""The dataset HDF5 format: one file per dataset and resolution (docs/contracts.md).

Layout::

    /{split}/images  uint8 [N, H, W, 3]   one image per chunk, uncompressed (fast random reads)
    /{split}/masks   uint8 [N, H, W]      optional; 0 = background, class ids otherwise
    /{split}/labels  int64 [N]            optional; class labels
    /{split}/names   str   [N]            optional; source file of each item (provenance)

File attributes: ``dataset``, ``resolution``, ``num_classes``, ``sources`` (JSON: file ->
checksum), ``preprocessing``, ``fdiff_version`` and optional extras (``class_names`` JSON,
``ignore_index``, ``config`` JSON).

Writing goes through :func:`open_writer`, which writes to a temporary name and renames it only
when every split is complete. Reading goes through :func:`read_images` / :func:`read_masks`
(numpy) here, or :class:`fdiff.data.loader.H5ImageDataset` (torch batches, the training
loader); every reader validates the file first (:func:`inspect_split`) and raises
:class:`~fdiff.errors.FdiffError` naming the file, split and key on any mismatch.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from fdiff import __version__
from fdiff.errors import FdiffError
from fdiff.io import atomic_path

SPLITS = ("train", "val", "test")


@dataclass
class DatasetAttrs:
    """Provenance written as file attributes.

    ``sources`` maps each source file name to its checksum (``"md5:..."``, ``"sha256:..."`` or
    ``"unverified"``); ``extra`` holds JSON-serialisable dataset-specific entries.
    """

    dataset: str
    resolution: int
    num_classes: int
    preprocessing: str
    sources: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    def write(self, f: h5py.File) -> None:
        f.attrs["dataset"] = self.dataset
        f.attrs["resolution"] = int(self.resolution)
        f.attrs["num_classes"] = int(self.num_classes)
        f.attrs["preprocessing"] = self.preprocessing
        f.attrs["sources"] = json.dumps(self.sources, sort_keys=True)
        f.attrs["fdiff_version"] = __version__
        for key, value in self.extra.items():
            f.attrs[key] = value if isinstance(value, int | float | str) else json.dumps(value)


class H5Writer:
    """Fills the splits of an open (temporary) HDF5 file; see :func:`open_writer`."""

    def __init__(self, f: h5py.File, resolution: int):
        self.f = f
        self.resolution = resolution

    def create_split(
        self, split: str, n: int, masks: bool = False, labels: bool = False, names: bool = False
    ) -> None:
        """Allocate ``/{split}/images`` [n, R, R, 3] (and masks [n, R, R], labels [n])."""
        if split not in SPLITS:
            raise FdiffError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        r = self.resolution
        g = self.f.create_group(split)
        # One image per chunk: a random read touches exactly one chunk. No compression: uint8
        # images compress poorly and decompression would dominate the loader's time.
        g.create_dataset(
            "images", (n, r, r, 3), np.uint8, chunks=(1, r, r, 3) if n else None, track_times=False
        )
        if masks:
            g.create_dataset(
                "masks", (n, r, r), np.uint8, chunks=(1, r, r) if n else None, track_times=False
            )
        if labels:
            g.create_dataset("labels", (n,), np.int64, track_times=False)
        if names:
            g.create_dataset("names", (n,), h5py.string_dtype(), track_times=False)

    def write(
        self,
        split: str,
        start: int,
        images: np.ndarray,
        masks: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        """Write items ``start .. start + len(images)`` of ``split`` (images [B, R, R, 3])."""
        g = self.f[split]
        stop = start + len(images)
        g["images"][start:stop] = images
        if masks is not None:
            g["masks"][start:stop] = masks
        if labels is not None:
            g["labels"][start:stop] = labels
        if names is not None:
            g["names"][start:stop] = list(names)


@contextlib.contextmanager
def open_writer(path: str | os.PathLike, attrs: DatasetAttrs) -> Iterator[H5Writer]:
    """Write a dataset file atomically: the file appears at ``path`` only if the block succeeds.

    An exception (a corrupt source image, Ctrl-C) removes the temporary file and leaves any
    previous file at ``path`` untouched.
    """
    with (
        atomic_path(path) as tmp,
        h5py.File(tmp, "w", libver=("earliest", "v110"), track_order=False) as f,
    ):
        attrs.write(f)
        yield H5Writer(f, attrs.resolution)


def write_arrays(
    path: str | os.PathLike,
    attrs: DatasetAttrs,
    splits: dict[str, dict[str, np.ndarray]],
) -> None:
    """Write in-memory splits (``{"train": {"images": ..., "masks": ...}, ...}``) atomically."""
    with open_writer(path, attrs) as w:
        for split, arrays in splits.items():
            images = arrays["images"]
            w.create_split(split, len(images), masks="masks" in arrays, labels="labels" in arrays)
            w.write(split, 0, images, arrays.get("masks"), arrays.get("labels"))


# ---------------------------------------------------------------------------------------------
# Reading and validation


@dataclass(frozen=True)
class SplitInfo:
    """What :func:`inspect_split` found: item count, resolution and optional keys."""

    n: int
    height: int
    width: int
    has_masks: bool
    has_labels: bool


def open_readonly(path: str | os.PathLike, missing: str = "HDF5 file not found") -> h5py.File:
    """Open an HDF5 file for reading; a missing, truncated or foreign file is one FdiffError."""
    path = Path(path)
    if not path.is_file():
        raise FdiffError(f"{path}: {missing}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise FdiffError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {e}") from None


def open_dataset(path: str | os.PathLike) -> h5py.File:
    """Open a dataset file for reading (one FdiffError when it is missing or unreadable)."""
    return open_readonly(path, "dataset file not found (run `fdiff prepare` or `fdiff shapes`)")


def _check(cond: bool, path, msg: str) -> None:
    if not cond:
        raise FdiffError(f"{path}: {msg}")


def inspect_split(f: h5py.File, split: str, path=None) -> SplitInfo:
    """Validate ``/{split}`` of an open file against the schema; return its :class:`SplitInfo`."""
    path = path or f.filename
    if split not in f or not isinstance(f[split], h5py.Group):
        have = ", ".join(k for k in f if isinstance(f[k], h5py.Group)) or "none"
        raise FdiffError(f"{path}: no split {split!r} (splits in file: {have})")
    g = f[split]
    _check("images" in g, path, f"missing key /{split}/images")
    img = g["images"]
    _check(img.dtype == np.uint8, path, f"/{split}/images has dtype {img.dtype}, expected uint8")
    _check(
        img.ndim == 4 and img.shape[3] == 3,
        path,
        f"/{split}/images has shape {img.shape}, expected [N, H, W, 3]",
    )
    n, h, w = img.shape[:3]
    has_masks = "masks" in g
    if has_masks:
        m = g["masks"]
        _check(m.dtype == np.uint8, path, f"/{split}/masks has dtype {m.dtype}, expected uint8")
        _check(
            m.shape == (n, h, w), path, f"/{split}/masks has shape {m.shape}, expected {(n, h, w)}"
        )
    has_labels = "labels" in g
    if has_labels:
        lab = g["labels"]
        _check(
            lab.dtype == np.int64, path, f"/{split}/labels has dtype {lab.dtype}, expected int64"
        )
        _check(lab.shape == (n,), path, f"/{split}/labels has shape {lab.shape}, expected {(n,)}")
    return SplitInfo(n, h, w, has_masks, has_labels)


def _read(path, split: str, key: str) -> np.ndarray:
    with open_dataset(path) as f:
        info = inspect_split(f, split, path)
        if key == "masks" and not info.has_masks:
            raise FdiffError(f"{path}: split {split!r} has no masks (key /{split}/masks)")
        if key == "labels" and not info.has_labels:
            raise FdiffError(f"{path}: split {split!r} has no labels (key /{split}/labels)")
        try:
            return f[split][key][()]
        except OSError as e:
            raise FdiffError(f"{path}: cannot read /{split}/{key} (truncated?): {e}") from None


def read_images(path: str | os.PathLike, split: str) -> np.ndarray:
    """All images of a split: uint8 [N, H, W, 3]."""
    return _read(path, split, "images")


def read_masks(path: str | os.PathLike, split: str) -> np.ndarray:
    """All masks of a split: uint8 [N, H, W] (0 = background)."""
    return _read(path, split, "masks")


def read_labels(path: str | os.PathLike, split: str) -> np.ndarray:
    """All labels of a split: int64 [N]."""
    return _read(path, split, "labels")


def read_attrs(path: str | os.PathLike) -> dict[str, object]:
    """File attributes, with ``sources`` (and other JSON-valued entries) decoded."""
    with open_dataset(path) as f:
        out: dict[str, object] = {}
        for k, v in f.attrs.items():
            v = v.item() if isinstance(v, np.generic) else v
            if isinstance(v, str) and v[:1] in "[{":
                with contextlib.suppress(ValueError):
                    v = json.loads(v)
            out[k] = v
        return out
