"""Timing and memory for ``fdiff bench``: the device, timed calls, peak memory.

On CUDA, times come from CUDA events after a ``torch.cuda.synchronize`` and peak memory is
``torch.cuda.max_memory_allocated``. On the CPU, times come from ``time.perf_counter`` and
peak memory is the resident set size above a baseline, sampled every 2 ms from ``/proc`` in a
thread (a lower bound: freed memory the allocator keeps is not seen again).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

# bf16 dense tensor-core peak (TFLOP/s, no sparsity) by device name; first match wins.
PEAK_BF16_TFLOPS: list[tuple[str, float]] = [
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM / HBM3
    ("A100", 312.0),
]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU {platform.processor() or platform.machine()} x{os.cpu_count()}"


def peak_tflops(device: torch.device) -> float | None:
    """The bf16 dense peak of a known GPU, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS:
        if key in name:
            return value
    return None


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load1() -> float:
    return os.getloadavg()[0]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(
    fn: Callable[[], object], device: torch.device, warmup: int, steps: int
) -> tuple[float, list[float]]:
    """Seconds of the first call (compilation, if any, included) and of each timed call.

    The first call is the first warm-up call (or a timed one when ``warmup`` is 0). On CUDA each
    timed call is bracketed by CUDA events and the device is synchronised before timing starts.
    """
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    first = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        fn()
    sync(device)
    times = [] if warmup > 0 else [first]
    for _ in range(steps - len(times)):
        if device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return first, times


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the lifetime high-water mark (KiB on Linux, bytes on macOS)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def peak_rss_sampler(interval: float = 0.002) -> Iterator[dict[str, int]]:
    """Sample the resident set size in a thread; yields a dict whose ``peak`` is filled in."""
    out = {"peak": rss_bytes()}
    stop = threading.Event()

    def run():
        while not stop.is_set():
            out["peak"] = max(out["peak"], rss_bytes())
            stop.wait(interval)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        yield out
    finally:
        stop.set()
        th.join()
        out["peak"] = max(out["peak"], rss_bytes())


def measure_peak_mib(fn: Callable[[], object], device: torch.device, baseline: int) -> float:
    """Peak memory of one call of ``fn`` (MiB): CUDA max allocated, or peak RSS over baseline."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        sync(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    with peak_rss_sampler() as rss:
        fn()
    return max(rss["peak"] - baseline, 0) / 2**20


def free_memory(device: torch.device) -> None:
    """Collect garbage and hand freed memory back (CUDA cache; glibc heap via malloc_trim), so
    that the next variant's memory is measured from a clean baseline."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
