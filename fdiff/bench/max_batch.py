"""``fdiff bench --max-batch`` (CUDA only): the largest training batch that fits in GPU memory,
found by doubling then bisecting on ``torch.cuda.OutOfMemoryError``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from fdiff.bench.report import BenchResult, Row
from fdiff.bench.speed import model_config, training_step
from fdiff.bench.timing import device_name, free_memory, git_commit, load1, sync
from fdiff.config import ModelConfig
from fdiff.device import resolve_device
from fdiff.errors import FdiffError

log = logging.getLogger(__name__)


def find_max_batch(fits: Callable[[int], bool], start: int = 8, limit: int = 8192) -> int:
    """The largest b in [1, limit] with ``fits(b)``, assuming fits is monotone (0 if none).

    Doubles from ``start`` until a batch fails, then bisects between the last success and the
    first failure.
    """
    lo, hi = 0, None  # lo fits (0: none known); hi fails
    b = max(1, min(start, limit))
    while hi is None:
        if fits(b):
            lo = b
            if b >= limit:
                return b
            b = min(2 * b, limit)
        else:
            hi = b
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def cuda_step_fits(cfg: ModelConfig, device: torch.device, checkpoint: bool, batch: int) -> bool:
    """Whether the training step at ``batch`` (bf16, channels_last, Adam, EMA) fits in GPU
    memory."""
    ok = False
    step = None
    try:
        step = training_step(cfg, device, batch, checkpoint=checkpoint)
        step()
        step()  # the second step holds the Adam state as well
        sync(device)
        ok = True
    except torch.cuda.OutOfMemoryError:
        pass  # the exception (and the frames holding the tensors) is released after this block
    step = None
    free_memory(device)
    return ok


def bench_max_batch(
    presets: tuple[str, ...] = ("paper64", "paper128"),
    variants: tuple[str, ...] = ("ddpm", "factorized"),
    device: str = "cuda",
    limit: int = 4096,
    checkpointing: tuple[bool, ...] = (False, True),
) -> BenchResult:
    """Largest per-GPU training batch of each preset and variant, without and with checkpointing."""
    dev = resolve_device(device)
    if dev.type != "cuda":
        raise FdiffError("searches for CUDA out-of-memory errors: it needs a GPU", arg="max_batch")
    rows = []
    total = torch.cuda.get_device_properties(dev).total_memory / 2**20
    for preset in presets:
        for variant in variants:
            cfg = model_config(preset, variant)
            for ckpt in checkpointing:
                b = find_max_batch(lambda n, c=cfg, k=ckpt: cuda_step_fits(c, dev, k, n), 16, limit)
                rows.append(
                    Row(
                        "max_batch",
                        f"{variant}{' +ckpt' if ckpt else ''}",
                        preset=preset,
                        device=str(dev),
                        batch_size=b,
                        peak_mem_mib=total,
                        load1=load1(),
                        note=f"largest batch whose step fits (limit {limit}); "
                        "peak_mem_mib = device total",
                    )
                )
                log.info("max batch %s %s ckpt=%s: %d", preset, variant, ckpt, b)
    meta = {"device": device_name(dev), "commit": git_commit(), "torch": torch.__version__}
    return BenchResult(rows, meta)
