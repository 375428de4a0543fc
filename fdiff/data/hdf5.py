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
when every split is complete. Reading goes through :class:`H5ImageDataset` (torch) or
:func:`read_images` / :func:`read_masks` (numpy); every reader validates the file first and
raises :class:`~fdiff.errors.FdiffError` naming the file, split and key on any mismatch.
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
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

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


def _open(path: str | os.PathLike) -> h5py.File:
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
    with _open(path) as f:
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
    with _open(path) as f:
        out: dict[str, object] = {}
        for k, v in f.attrs.items():
            v = v.item() if isinstance(v, np.generic) else v
            if isinstance(v, str) and v[:1] in "[{":
                with contextlib.suppress(ValueError):
                    v = json.loads(v)
            out[k] = v
        return out


def to_float(images: np.ndarray, out: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 [B, H, W, 3] -> float32 [B, 3, H, W] in [-1, 1] (x / 127.5 - 1), into ``out``."""
    b, h, w, _ = images.shape
    if out is None:
        out = torch.empty((b, 3, h, w), dtype=torch.float32)
    out.copy_(torch.from_numpy(images).permute(0, 3, 1, 2))
    return out.mul_(1.0 / 127.5).sub_(1.0)


class Batch(list):
    """What ``H5ImageDataset.__getitems__`` returns: a list of ``(image, label)`` views.

    ``default_collate`` stacks it like any list of items (a copy); :func:`collate` returns the
    already-stacked ``images`` [B, 3, H, W] and ``labels`` [B] without copying.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        super().__init__(zip(images, labels, strict=True))
        self.images = images
        self.labels = labels


def collate(batch):
    """DataLoader ``collate_fn``: zero-copy for :class:`Batch`, ``default_collate`` otherwise."""
    if isinstance(batch, Batch):
        return batch.images, batch.labels
    return default_collate(batch)


IN_MEMORY_ENV = "FDIFF_IN_MEMORY_MAX_GB"


def in_memory_limit() -> int:
    """Largest split (bytes of uint8 images) that :class:`H5ImageDataset` keeps in RAM by
    default: ``$FDIFF_IN_MEMORY_MAX_GB`` GiB, 4 by default (60k 64 px images are 0.7 GiB)."""
    value = os.environ.get(IN_MEMORY_ENV, "4")
    try:
        return int(float(value) * 2**30)
    except ValueError:
        raise FdiffError(f"${IN_MEMORY_ENV} = {value!r}: expected a number of GiB") from None


class H5ImageDataset(Dataset):
    """A split of a dataset HDF5 file as a torch Dataset.

    Item ``i`` is ``(image, label)``: image float32 [3, H, W] in [-1, 1], flipped horizontally
    with probability 1/2 when ``flip``; label int64 (-1 when the file has no labels). With
    ``uint8=True`` the image stays uint8 [3, H, W] in 0..255: :class:`H5Loader` uses that to
    move a quarter of the bytes between processes and converts in the consumer.

    The h5py file is opened lazily on first access in each process (never in ``__init__``) so
    the dataset pickles into DataLoader workers and each worker holds its own handle.
    ``__getitems__`` serves a whole batch with one loop of chunk reads into one buffer and one
    vectorised conversion, which is what makes the loader fast (see :mod:`fdiff.data.bench`).
    A split that fits under :func:`in_memory_limit` (or ``in_memory=True``) is read once into
    RAM and served by indexing, far faster than per-image chunk reads.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str,
        flip: bool = False,
        uint8: bool = False,
        in_memory: bool | None = None,
    ):
        self.path = str(path)
        self.split = split
        self.flip = flip
        self.uint8 = uint8
        self._array: np.ndarray | None = None
        with _open(self.path) as f:
            self.info = inspect_split(f, split, self.path)
            self._labels = f[split]["labels"][()] if self.info.has_labels else None
            nbytes = self.info.n * self.info.height * self.info.width * 3
            if in_memory is None:  # auto: small splits (the 64 px sets, the demo) live in RAM
                in_memory = nbytes <= in_memory_limit()
            if in_memory:
                # one contiguous read; DataLoader workers forked later share it copy-on-write
                try:
                    self._array = f[split]["images"][()]
                except OSError as e:
                    raise FdiffError(f"{self.path}: cannot read /{split}/images: {e}") from None
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return self.info.n

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None  # h5py handles do not pickle; each worker opens its own
        state["_pid"] = None
        return state

    def _images(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file = _open(self.path)
            self._pid = os.getpid()
        return self._file[self.split]["images"]

    def _load(self, indices: Sequence[int]) -> np.ndarray:
        if self._array is not None:
            return self._array[np.asarray(indices, dtype=np.int64)]
        ds = self._images()
        info = self.info
        out = np.empty((len(indices), info.height, info.width, 3), np.uint8)
        try:
            # One integer read per item (~140k/s at 64 px): h5py's fancy (list) indexing is
            # about 100x slower and read_direct about 5x slower on one-image chunks.
            for j, i in enumerate(indices):
                out[j] = ds[i]
        except OSError as e:
            raise FdiffError(f"{self.path}: cannot read /{self.split}/images: {e}") from None
        return out

    def _labels_for(self, indices: Sequence[int]) -> torch.Tensor:
        if self._labels is None:
            return torch.full((len(indices),), -1, dtype=torch.int64)
        return torch.from_numpy(self._labels[np.asarray(indices, dtype=np.int64)])

    def get_batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Images float32 [B, 3, H, W] in [-1, 1] and labels int64 [B] for ``indices``."""
        idx = [int(i) for i in indices]
        for i in idx:
            if not 0 <= i < self.info.n:
                raise IndexError(f"index {i} out of range for {self.info.n} items")
        u = self._load(idx)
        if self.flip:  # flip the uint8 pixels (a quarter of the bytes of the float batch)
            flip = (torch.rand(len(idx)) < 0.5).numpy()
            u[flip] = u[flip, :, ::-1]
        if self.uint8:
            x = torch.from_numpy(np.ascontiguousarray(u.transpose(0, 3, 1, 2)))
        else:
            x = to_float(u)
        return x, self._labels_for(idx)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.get_batch([i])
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        return Batch(*self.get_batch(indices))


class H5Loader:
    """Batches ``(images float32 [B, 3, H, W] in [-1, 1], labels int64 [B])`` of a split.

    DataLoader workers read and flip uint8 batches (``__getitems__``, one chunk read per
    image) and hand them over through shared memory; the conversion to float happens here,
    in the consumer, on ``device`` when given (a GPU converts for free and receives a quarter
    of the bytes). Moving float batches between processes instead costs more than reading
    them: every batch is a fresh shared-memory block whose pages fault in on first write.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str,
        batch_size: int,
        workers: int = 2,
        flip: bool = False,
        shuffle: bool = True,
        drop_last: bool = True,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
        prefetch_factor: int | None = None,
    ):
        self.dataset = H5ImageDataset(path, split, flip=flip, uint8=True)
        self.device = torch.device(device) if device is not None else None
        self.loader = DataLoader(
            self.dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=workers,
            drop_last=drop_last and len(self.dataset) >= batch_size,
            collate_fn=collate,
            persistent_workers=workers > 0,
            pin_memory=self.device is not None and self.device.type == "cuda",
            generator=generator,
            prefetch_factor=prefetch_factor if workers > 0 else None,
        )

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for u, y in self.loader:
            if self.device is not None:
                u = u.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
            yield u.float().mul_(1.0 / 127.5).sub_(1.0), y
