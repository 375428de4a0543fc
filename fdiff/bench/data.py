"""Loader throughput: images per second that :class:`~fdiff.data.loader.H5Loader` delivers.

Design (measured on the 2-core development machine, 64 px, batch 256): a DataLoader worker
fetches a whole shuffled batch in one ``__getitems__`` call, one integer-indexed chunk read
per image (one image per chunk, uncompressed) into one uint8 buffer, flips it as uint8 and
hands the uint8 batch over through shared memory; the consumer converts to float. h5py fancy
indexing with a list of indices is avoided (about 100x slower than a loop of single reads),
and so are float batches between processes (4x the bytes, and each batch is a fresh
shared-memory block whose pages fault in on first write: converting into shared memory ran
at ~7,700 images/s against ~19,000-30,000 into private memory).

:func:`cpu_cost` reports the CPU time per image of each side, which does not depend on how
busy the machine is; :func:`loader_throughput` the wall-clock rate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from fdiff.data.loader import H5ImageDataset, H5Loader

log = logging.getLogger(__name__)


def loader_throughput(
    path: str, split: str = "train", batch_size: int = 256, workers: int = 2, seconds: float = 5.0
) -> float:
    """Images per second through a shuffling, flipping :class:`H5Loader` (float batches).

    The first batch (worker start-up) is not timed; the loader cycles over epochs until
    ``seconds`` have passed.
    """
    loader = H5Loader(path, split, batch_size, workers=workers, flip=True, prefetch_factor=4)
    n, t0 = 0, None
    while True:
        for x, _ in loader:
            if t0 is None:
                t0 = time.perf_counter()
                continue
            n += len(x)
            dt = time.perf_counter() - t0
            if dt >= seconds:
                rate = n / dt
                log.info(
                    "%s [%s]: %d images in %.1f s, %d workers, batch %d: %.0f images/s",
                    path,
                    split,
                    n,
                    dt,
                    workers,
                    batch_size,
                    rate,
                )
                return rate


@dataclass(frozen=True)
class CpuCost:
    """CPU microseconds per image: worker side (read, flip, share) and consumer (to float)."""

    worker_us: float
    consumer_us: float

    def capacity(self, workers: int) -> float:
        """Images/s if the workers and the consumer each had a core of their own."""
        return 1e6 / max(self.worker_us / workers, self.consumer_us)


def cpu_cost(path: str, split: str = "train", batch_size: int = 256, batches: int = 20) -> CpuCost:
    """Measure both sides of the loader in this process with ``time.process_time``."""
    ds = H5ImageDataset(path, split, flip=True, uint8=True)
    rng = np.random.default_rng(0)
    n = min(batch_size, len(ds))
    worker = consumer = 0.0
    for _ in range(batches):
        idx = rng.choice(len(ds), n, replace=False)
        t = time.process_time()
        u, _ = ds.get_batch(idx)
        u.share_memory_()
        worker += time.process_time() - t
        t = time.process_time()
        u.float().mul_(1.0 / 127.5).sub_(1.0)
        consumer += time.process_time() - t
    total = batches * n
    return CpuCost(worker / total * 1e6, consumer / total * 1e6)
