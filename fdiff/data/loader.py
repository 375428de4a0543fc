"""Loading a dataset file's split for torch: :class:`H5ImageDataset` and :class:`H5Loader`.

The file format and its validation are :mod:`fdiff.data.hdf5`; this module only reads images
fast. Images travel as uint8 [B, H, W, 3] (a quarter of the bytes of float32) and become
float32 [B, 3, H, W] in [-1, 1] with :func:`uint8_to_float` in the consumer, on its device:
training (:class:`fdiff.training.trainer.Trainer`) and :class:`H5Loader` both do that.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from fdiff.data.hdf5 import inspect_split, open_dataset
from fdiff.errors import FdiffError


def uint8_to_float(u: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] in 0..255 -> float32 in [-1, 1] (x / 127.5 - 1), on ``u``'s device."""
    return u.float().mul_(1.0 / 127.5).sub_(1.0)


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
    vectorised conversion, which is what makes the loader fast (see :mod:`fdiff.bench.data`).
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
        with open_dataset(self.path) as f:
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
            self._file = open_dataset(self.path)
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


class TensorImages(Dataset):
    """Images already in memory, float32 [N, 3, H, W] in [-1, 1], as an unconditional training
    set: item ``i`` is ``(image, label -1)``, as :class:`H5ImageDataset` gives for a file
    without labels (tests and experiments that train on generated tensors)."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], torch.tensor(-1)


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
            yield uint8_to_float(u), y
