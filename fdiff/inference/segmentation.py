"""Segmenting a dataset split with a trained factorized model (Sec. 3.4), the one loop that
``fdiff segment``, the t sweep (:mod:`fdiff.metrics.tsweep`) and the figures use.

Each batch of clean images x0 [B x 3 x H x W] is noised to step t with Eq. 1 (one generator,
seeded once, drawn batch after batch) and passed once through the encoder, middle block and
mask generator (:func:`fdiff.diffusion.samplers.segment`); the probabilities [B x K x H x W] become
region maps with :func:`fdiff.inference.predictions.region_map`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fdiff.data.hdf5 import inspect_split, open_dataset
from fdiff.data.loader import H5ImageDataset
from fdiff.diffusion import samplers
from fdiff.errors import FdiffError
from fdiff.inference.predictions import region_map, soft_masks
from fdiff.progress import progress as pbar


@dataclass
class SplitMasks:
    """masks [N x H x W] uint8 region ids; soft [N x K x H x W] float16 (when asked for)."""

    masks: np.ndarray
    soft: np.ndarray | None


def check_segmentable(
    model: torch.nn.Module, resolution: int, resize: bool, model_path="the model", data=""
) -> None:
    """One-line errors: a standard DDPM has no masks; images of another resolution than the
    model's need an explicit ``resize``."""
    if not getattr(model.cfg, "factorized", False):
        raise FdiffError(
            f"{model_path}: a standard DDPM has no mask generator; use a factorized model"
        )
    if resolution != model.cfg.resolution and not resize:
        raise FdiffError(
            f"{model_path}: the model is trained at {model.cfg.resolution} px but {data} holds "
            f"{resolution} px images (resize them to segment across resolutions)",
            arg="resize",
        )


def split_resolution(data: str | Path, split: str) -> int:
    """The image size of ``data``'s ``split`` (validated against the schema)."""
    with open_dataset(data) as f:
        return inspect_split(f, split, data).height


@torch.no_grad()
def segment_split(
    model: torch.nn.Module,
    diffusion,
    data: str | Path,
    split: str,
    t: int,
    *,
    limit: int = 0,
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device | None = None,
    labels: np.ndarray | None = None,
    resize: bool = False,
    soft: bool = False,
    progress: bool = True,
) -> SplitMasks:
    """Region maps of the first ``limit`` (0: all) images of ``data``'s ``split`` at step ``t``.

    :param labels: class of each image [N] for a class-conditional model (default: the split's
        labels). :param resize: segment images of another resolution than the model's: resized
        (antialiased bilinear) to the model's, the probabilities resized back before the argmax.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    ds = H5ImageDataset(data, split)
    check_segmentable(model, ds.info.height, resize, data=data)
    n = len(ds) if limit <= 0 else min(limit, len(ds))
    res = model.cfg.resolution
    g = torch.Generator(device).manual_seed(seed)
    masks, probs_out = [], []
    for start in pbar(range(0, n, batch_size), desc=f"segment {split} t={t}", leave=False,
                      disable=not progress):  # fmt: skip
        idx = list(range(start, min(start + batch_size, n)))
        x0, y = ds.get_batch(idx)
        if labels is not None:  # e.g. classes mapped from VOC masks (zero-shot conditioning)
            y = torch.as_tensor(labels[idx])
        if model.cfg.num_classes:
            if (y < 0).any():
                raise FdiffError(
                    f"{data}: /{split}/labels missing; a class-conditional model needs each "
                    "image's class to segment it"
                )
            y = y.to(device)
        else:
            y = None
        x0 = x0.to(device)
        size = x0.shape[-1]
        if size != res:
            x0 = F.interpolate(x0, size=(res, res), mode="bilinear", antialias=True)
        m = samplers.segment(model, diffusion, x0, t, y=y, generator=g)
        if size != res:
            m = F.interpolate(m, size=(size, size), mode="bilinear")
        masks.append(region_map(m))
        if soft:
            probs_out.append(soft_masks(m))
    k = model.num_regions
    empty = np.zeros((0, ds.info.height, ds.info.width), np.uint8)
    return SplitMasks(
        np.concatenate(masks) if masks else empty,
        (np.concatenate(probs_out) if probs_out else np.zeros((0, k, *empty.shape[1:]), np.float16))
        if soft
        else None,
    )
