"""Prediction files: the one owner of the HDF5 files that hold region maps (docs/contracts.md).

Three kinds share one format: segmentation files (``fdiff segment``, the baselines), samples
files (``fdiff sample``) and interpolation files (``fdiff interpolate``). Each holds arrays
(``masks`` [N x H x W] uint8 region ids, ``soft_masks`` [N x K x H x W] float16, ``images``
[N x H x W x 3] uint8, ...) and attributes. Everything that writes or reads one goes through
this module:

- :func:`region_map` turns mask probabilities [N x K x H x W] into the stored region map;
- :func:`write_arrays` writes a file atomically; :func:`write_segmentation` adds the provenance
  of the dataset split that was segmented (:class:`SplitIdentity`);
- :func:`read_prediction` reads ``masks`` and the attributes and, given the split it is
  scored against, checks that the file was made from that split: the same dataset, split,
  image count, resolution and image fingerprint, or a one-line error naming what differs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from fdiff.data.hdf5 import inspect_split, open_dataset, open_readonly
from fdiff.errors import FdiffError
from fdiff.io import atomic_path

if TYPE_CHECKING:  # the readers (tables, figures, gathers) run without torch
    import torch

log = logging.getLogger(__name__)

# the attributes that record which dataset split a segmentation file was made from
IDENTITY_ATTRS = ("dataset", "split", "num_images", "resolution", "images_sha256")
FINGERPRINT_IMAGES = 16  # images hashed for the fingerprint, evenly spaced over the split


def region_map(probs: torch.Tensor) -> np.ndarray:
    """Mask probabilities [N x K x H x W] -> region ids [N x H x W] uint8 (the argmax over K)."""
    return probs.argmax(1).byte().cpu().numpy()  # .byte() is .to(torch.uint8)


def soft_masks(probs: torch.Tensor) -> np.ndarray:
    """Mask probabilities [N x K x H x W] as stored: float16 on the CPU."""
    return probs.half().cpu().numpy()


# -- provenance --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitIdentity:
    """Which images a prediction file is about: dataset name, split, image count, resolution and
    a fingerprint (sha256 of the split's shape and of up to 16 evenly spaced images' bytes)."""

    dataset: str
    split: str
    num_images: int
    resolution: int
    images_sha256: str

    def attrs(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in IDENTITY_ATTRS}

    def describe(self) -> str:
        return (
            f"{self.dataset}/{self.split} ({self.num_images} images, {self.resolution} px, "
            f"images sha256 {self.images_sha256[:12]})"
        )


def split_identity(data: str | Path, split: str) -> SplitIdentity:
    """The :class:`SplitIdentity` of ``/{split}`` of a dataset file."""
    with open_dataset(data) as f:
        info = inspect_split(f, split, data)
        images = f[split]["images"]
        h = hashlib.sha256(f"{info.n}x{info.height}x{info.width}x3".encode())
        picks = np.linspace(0, info.n - 1, FINGERPRINT_IMAGES) if info.n else []
        for i in sorted({int(i) for i in picks}):
            h.update(np.ascontiguousarray(images[i]).tobytes())
        name = f.attrs.get("dataset", Path(data).stem)
        name = name.decode() if isinstance(name, bytes) else str(name)
    return SplitIdentity(name, split, info.n, info.height, h.hexdigest())


def _identity_of(attrs: dict) -> SplitIdentity | None:
    if not all(k in attrs and attrs[k] != "" for k in IDENTITY_ATTRS):
        return None
    return SplitIdentity(
        str(attrs["dataset"]), str(attrs["split"]), int(attrs["num_images"]),
        int(attrs["resolution"]), str(attrs["images_sha256"]),
    )  # fmt: skip


def check_provenance(
    path: str | Path, attrs: dict, expected: SplitIdentity, data: str | Path = "?"
) -> None:
    """FdiffError (one line) unless the file's recorded split is ``expected``."""
    have = _identity_of(attrs)
    if have is None:
        log.warning(
            "%s: no dataset provenance recorded; only the image count and resolution are checked",
            path,
        )
        return
    differ = [k for k in IDENTITY_ATTRS if getattr(have, k) != getattr(expected, k)]
    differ = ["images" if k == "images_sha256" else k for k in differ]
    if differ:
        raise FdiffError(
            f"{path}: masks of {have.describe()} in {attrs.get('data') or '?'} scored against "
            f"{expected.describe()} in {data}: "
            f"{', '.join(differ)} differ; segment the split you evaluate"
        )


# -- writing -----------------------------------------------------------------------------------
def write_arrays(path: str | Path, arrays: dict[str, np.ndarray], attrs: dict) -> None:
    """Write a prediction file atomically: one chunk per item for arrays of >= 3 dims, the
    attributes as given (None as "")."""
    masks = arrays.get("masks")
    if masks is not None and (masks.ndim != 3 or masks.dtype != np.uint8):
        raise ValueError(f"masks {masks.dtype} {masks.shape}: expected uint8 [N, H, W]")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in arrays.items():
            chunks = (1, *value.shape[1:]) if value.ndim >= 3 and len(value) else None
            f.create_dataset(key, data=value, chunks=chunks)
        for key, value in attrs.items():
            f.attrs[key] = "" if value is None else value


def concat_files(
    out: str | Path,
    parts: Sequence[tuple[str | Path, int, int]],
    keys: Sequence[str],
    copy: Sequence[str] = (),
    drop_attrs: Sequence[str] = (),
) -> int:
    """Write ``out`` atomically as the files ``parts`` (``(path, start, stop)`` in order, tiling
    ``[0, n)``) joined along the item axis, for each array of ``keys`` that the first part
    holds (chunked as :func:`write_arrays` does); the groups or arrays ``copy`` and the
    attributes less ``drop_attrs`` come from the first part as they are. Streams one part at a
    time; returns n."""
    n = parts[-1][2]
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as g:
        with _open(parts[0][0]) as f0:
            for key, value in f0.attrs.items():
                if key not in drop_attrs:
                    g.attrs[key] = value
            keys = [k for k in keys if k in f0]
            for k in keys:
                d = f0[k]
                chunks = (1, *d.shape[1:]) if d.ndim >= 3 else None
                g.create_dataset(k, shape=(n, *d.shape[1:]), dtype=d.dtype, chunks=chunks)
            for name in copy:
                if name in f0:
                    f0.copy(name, g)
        for p, s, e in parts:
            with _open(p) as f:
                for k in keys:
                    if k not in f or f[k].shape[0] != e - s:
                        raise FdiffError(f"{p}: /{k} missing or not {e - s} images long")
                    g[k][s:e] = f[k][()]
    return n


def write_segmentation(
    path: str | Path,
    masks: np.ndarray,
    attrs: dict,
    soft_masks: np.ndarray | None = None,
) -> None:
    """A segmentation file: ``masks`` [N x H x W] uint8, optional ``soft_masks`` [N x K x H x W]
    (stored float16) and ``attrs`` (data, split, t, num_regions, method, checkpoint).

    When ``attrs["data"]`` is a dataset file holding ``attrs["split"]``, the split's
    :class:`SplitIdentity` is recorded too (and must match the masks' count and size).
    """
    arrays = {"masks": masks}
    if soft_masks is not None:
        arrays["soft_masks"] = soft_masks.astype(np.float16)
    attrs = dict(attrs)
    identity = _identity_or_none(attrs.get("data"), attrs.get("split"))
    if identity is not None:
        if masks.shape[0] != identity.num_images or masks.shape[1:] != (identity.resolution,) * 2:
            raise FdiffError(
                f"{path}: masks {masks.shape} do not fit {identity.describe()} "
                "(one [H, W] map per image, same resolution)"
            )
        attrs |= identity.attrs()
    write_arrays(path, arrays, attrs)


def _identity_or_none(data, split) -> SplitIdentity | None:
    if not data or not split or not Path(str(data)).is_file():
        return None
    try:
        return split_identity(data, str(split))
    except FdiffError:  # e.g. the K-means baseline labelling a samples file (split "samples")
        return None


# -- reading -----------------------------------------------------------------------------------
def _attr(v):
    """HDF5 attributes as plain Python values."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _open(path: str | Path) -> h5py.File:
    return open_readonly(path, "no such file (expected an HDF5 file)")


def file_attrs(path: str | Path) -> dict:
    """A prediction file's attributes as plain Python values."""
    with _open(path) as f:
        return {k: _attr(v) for k, v in f.attrs.items()}


def method_of(attrs: dict, path: str | Path) -> str:
    """The method label a file's writer recorded (``ModelConfig.method`` for our models, the
    baseline's name otherwise); the file name when none was."""
    return str(attrs.get("method") or Path(path).stem)


def has_array(path: str | Path, key: str) -> bool:
    with _open(path) as f:
        return key in f


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
        return int(k) if k not in (None, "") else int(self.masks.max(initial=0)) + 1


def read_prediction(path: str | Path, against: tuple[str | Path, str] | None = None) -> Prediction:
    """A prediction file's ``masks`` and attributes.

    ``against = (dataset file, split)``: the masks are to be scored against that split; the
    file's recorded provenance is checked (:func:`check_provenance`) and so are the image count
    and resolution.
    """
    masks = read_array(path, "masks", "predicted region masks [N, H, W] uint8")
    if masks.ndim != 3:
        raise FdiffError(f"{path}: 'masks' has shape {masks.shape}: expected [N, H, W]")
    pred = Prediction(masks=masks, attrs=file_attrs(path))
    if against is not None:
        expected = split_identity(*against)
        check_provenance(path, pred.attrs, expected, against[0])
        if masks.shape != (expected.num_images, expected.resolution, expected.resolution):
            want = (expected.num_images, expected.resolution, expected.resolution)
            raise FdiffError(
                f"{path}: masks are {masks.shape} but {against[0]}:/{against[1]}/masks holds "
                f"{want}: expected one predicted [H, W] map per ground-truth mask, same order "
                "and resolution"
            )
    return pred
