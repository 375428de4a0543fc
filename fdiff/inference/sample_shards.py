"""Sampling in shards: sample sets drawn as independent, resumable jobs and gathered into one.

A sample set of N images is cut into batches of B images at the global indices 0, B, 2B, ...;
the noise of the batch that starts at index ``i`` comes from its own generator, seeded by
``(seed, i)`` (:func:`batch_seed`). So a shard (the images ``[start, start + num)`` with
``start`` a multiple of B) draws exactly the images that one run of all N draws there, and the
shards, concatenated in order (:func:`gather`), equal that run.

A shard is resumable: every finished batch is written atomically to the shard's parts folder
(``parts/batch-<start>.npz``) together with a fingerprint of what drew it (checkpoint, sampler,
steps, seed, batch size, classes); a rerun after a time limit or a crash keeps the batches of
the same fingerprint and draws only the rest. The folder is removed once the shard is written.

Sample file layout (docs/contracts.md): ``images`` uint8 [N x H x W x 3], ``masks`` uint8
[N x H x W] (factorized models), ``soft_masks`` float16 [N x K x H x W] (when asked for),
``labels`` int64 [N] (class-conditional), ``trajectory/images`` [S x n x H x W x 3],
``trajectory/masks`` [S x n x H x W] and ``trajectory/t`` [S] (the first batch, when asked for).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fdiff.errors import FdiffError
from fdiff.inference.predictions import (
    concat_files,
    file_attrs,
    has_array,
    region_map,
    soft_masks,
    write_arrays,
)
from fdiff.io import atomic_path
from fdiff.progress import progress as pbar

if TYPE_CHECKING:  # torch tensors are typed, not needed, by the readers
    pass

log = logging.getLogger("fdiff")

PER_IMAGE = ("images", "masks", "soft_masks", "labels")  # concatenated along N by gather


@dataclass(frozen=True)
class SampleSpec:
    """How a sample set is drawn; everything that decides its images."""

    sampler: str = "ddpm"  # ddpm | ddim
    steps: int = 100  # DDIM steps (DDPM uses all T)
    batch_size: int = 64
    seed: int = 0
    classes: tuple[int, ...] = ()  # class labels, cycled over the global index
    soft_masks: bool = False
    trajectory: tuple[int, ...] = field(default=())  # record x_t at these t (first batch)


def batch_seed(seed: int, start: int) -> int:
    """The seed of the batch that starts at global index ``start`` (a 63-bit integer)."""
    state = np.random.SeedSequence([int(seed), int(start)]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def shard_ranges(num: int, shard_size: int) -> list[tuple[int, int]]:
    """[(start, stop)] of the shards of a set of ``num`` images (the last may be shorter)."""
    if shard_size < 1:
        raise FdiffError(f"shard size {shard_size}: expected a positive number of images")
    return [(s, min(s + shard_size, num)) for s in range(0, num, shard_size)]


def draw_batch(model, diffusion, spec: SampleSpec, start: int, n: int, device) -> dict:
    """The ``n`` images at global indices ``start ...``: arrays keyed as in the sample file."""
    import torch  # here: the gather (a CPU job of its own) runs without torch

    from fdiff.diffusion.samplers import ddim_sample, ddpm_sample
    from fdiff.inference.visual import to_uint8

    cfg = model.cfg
    g = torch.Generator(device).manual_seed(batch_seed(spec.seed, start))
    out: dict[str, np.ndarray] = {}
    y = None
    if cfg.num_classes:
        classes = spec.classes or tuple(range(cfg.num_classes))
        labels = [classes[(start + i) % len(classes)] for i in range(n)]
        y = torch.tensor(labels, device=device)
        out["labels"] = np.asarray(labels, dtype=np.int64)
    record = set(spec.trajectory) if start == 0 else set()
    shape = (n, cfg.in_channels, cfg.resolution, cfg.resolution)
    if spec.sampler == "ddpm":
        res = ddpm_sample(model, diffusion, shape, y=y, generator=g, record=record)
    else:
        res = ddim_sample(model, diffusion, shape, spec.steps, y=y, generator=g, record=record)
    out["images"] = to_uint8(res.images)
    if res.masks is not None:
        out["masks"] = region_map(res.masks)
        if spec.soft_masks:
            out["soft_masks"] = soft_masks(res.masks)
    if res.trajectory:
        out["trajectory/t"] = np.array([t for t, _, _ in res.trajectory], dtype=np.int64)
        out["trajectory/images"] = np.stack([to_uint8(x) for _, x, _ in res.trajectory])
        ms = [m for _, _, m in res.trajectory if m is not None]
        if ms:
            out["trajectory/masks"] = np.stack([region_map(m) for m in ms])
    return out


def _fingerprint(checkpoint: Path, spec: SampleSpec) -> dict:
    st = Path(checkpoint).stat()
    return {"checkpoint": [str(checkpoint), st.st_size, st.st_mtime_ns], **asdict(spec)}


def _open_parts(parts: Path, fingerprint: dict) -> None:
    """Keep the parts of the same fingerprint; start afresh otherwise."""
    meta = parts / "fingerprint.json"
    want = json.loads(json.dumps(fingerprint))
    if meta.exists():
        try:
            same = json.loads(meta.read_text()) == want
        except ValueError:
            same = False
        if not same:
            log.info("%s: drawn by another model or setting; starting afresh", parts)
            shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    if not meta.exists():
        with atomic_path(meta) as tmp:
            tmp.write_text(json.dumps(want))


def _save_part(path: Path, arrays: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k.replace("/", "__"): v for k, v in arrays.items()})


def _load_part(path: Path) -> dict:
    with np.load(path) as z:
        return {k.replace("__", "/"): z[k] for k in z.files}


def sample_range(
    model, diffusion, spec: SampleSpec, start: int, stop: int, device, checkpoint: Path,
    parts: Path | None = None,
) -> dict:  # fmt: skip
    """The images ``[start, stop)`` of the set (``start`` a multiple of the batch size), drawn
    batch by batch; with ``parts``, finished batches are kept there and reused on a rerun."""
    b = spec.batch_size
    if start % b:
        raise FdiffError(
            f"{start}: expected a multiple of the batch size {b} (the batches of a "
            "shard must be those of the whole set)",
            arg="start",
        )
    if parts is not None:
        _open_parts(parts, _fingerprint(checkpoint, spec))
    chunks = []
    reused = 0
    t0 = time.time()
    for s in pbar(range(start, stop, b), desc="sample batches"):
        n = min(b, stop - s)
        path = parts / f"batch-{s:09d}-{n}.npz" if parts is not None else None
        if path is not None and path.exists():
            chunks.append(_load_part(path))
            reused += 1
            continue
        arrays = draw_batch(model, diffusion, spec, s, n, device)
        if path is not None:
            _save_part(path, arrays)
        chunks.append(arrays)
    if reused:
        log.info("resumed: %d of %d batches were already drawn", reused, len(chunks))
    dt = time.time() - t0
    log.info("%d images in %.1fs (%.2f images/s)", stop - start, dt, (stop - start) / dt)
    return _concat(chunks)


def _concat(chunks: list[dict]) -> dict:
    out = {k: np.concatenate([c[k] for c in chunks]) for k in PER_IMAGE if k in chunks[0]}
    for k, v in chunks[0].items():  # the trajectory: the first batch's
        if k.startswith("trajectory/"):
            out[k] = v
    return out


def write_samples(path: Path, arrays: dict, attrs: dict) -> None:
    """Write a sample file atomically (chunked one image per chunk): fdiff.inference.predictions."""
    write_arrays(path, arrays, attrs)


def gather(shards: list[Path], out: Path, num: int | None = None) -> int:
    """Concatenate shard files (attrs ``start``/``stop``) into one sample file, in index order;
    they must tile ``[0, num)``. Streams one shard at a time; returns the number of images."""
    if not shards:
        raise FdiffError("gather: no shard files given")
    infos = []
    for p in shards:
        attrs = file_attrs(p)
        if "start" not in attrs or not has_array(p, "images"):
            raise FdiffError(f"{p}: not a sample shard (no 'start' attribute or images)")
        infos.append((int(attrs["start"]), int(attrs["stop"]), Path(p)))
    infos.sort()
    pos = 0
    for s, e, p in infos:
        if s != pos:
            raise FdiffError(f"{p}: shard starts at image {s}, expected {pos} (a shard missing?)")
        pos = e
    if num is not None and pos != num:
        raise FdiffError(f"gather: the shards hold images 0..{pos}, expected {num}")
    parts = [(p, s, e) for s, e, p in infos]
    concat_files(out, parts, PER_IMAGE, copy=("trajectory",), drop_attrs=("start", "stop"))
    log.info("%d shards, %d images -> %s", len(infos), pos, out)
    return pos
