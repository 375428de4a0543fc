"""Turning tensors into pictures: one region colour map for every figure, overlays and grids."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from skimage.segmentation import find_boundaries

from fdiff.inference.predictions import region_map
from fdiff.io import atomic_path

if TYPE_CHECKING:  # torch tensors are typed, not needed, by the readers
    import torch

# One colour per region index, shared by every figure (colour-blind-friendly Okabe-Ito order).
REGION_COLOURS = np.array(
    [
        [0, 114, 178],
        [230, 159, 0],
        [0, 158, 115],
        [204, 121, 167],
        [86, 180, 233],
        [213, 94, 0],
        [240, 228, 66],
        [0, 0, 0],
    ],
    dtype=np.uint8,
)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N x 3 x H x W] in [-1, 1] -> uint8 [N x H x W x 3]."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return x.permute(0, 2, 3, 1).cpu().numpy()


def colorize(regions: np.ndarray) -> np.ndarray:
    """Region indices [... x H x W] -> RGB uint8 [... x H x W x 3] in the shared colour map."""
    return REGION_COLOURS[np.asarray(regions) % len(REGION_COLOURS)]


def overlay(
    images: np.ndarray, regions: np.ndarray, alpha: float = 0.5, outline: bool = True
) -> np.ndarray:
    """Blend region colours over uint8 images [N x H x W x 3] and, with ``outline``, draw each
    region's outline (its pixels next to another region, skimage's ``find_boundaries``) in the
    full region colour, so that regions stay apart where the blend is faint."""
    regions = np.asarray(regions)
    colours = colorize(regions)
    mixed = (1 - alpha) * images.astype(np.float32) + alpha * colours.astype(np.float32)
    out = mixed.round().astype(np.uint8)
    if outline:
        for i in range(len(out)):
            edge = find_boundaries(regions[i].astype(np.int16), mode="inner", background=-1)
            out[i][edge] = colours[i][edge]
    return out


def grid(rows: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """Stack rows of images (each [N x H x W x 3] uint8, same N, H, W) into one picture."""
    n, h, w, _ = rows[0].shape
    out = np.full((len(rows) * (h + pad) + pad, n * (w + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for i in range(n):
            y, x = pad + r * (h + pad), pad + i * (w + pad)
            out[y : y + h, x : x + w] = row[i]
    return out


def save_png(picture: np.ndarray, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")


def masks_picture(images: torch.Tensor, masks: torch.Tensor | None) -> np.ndarray:
    """Images [N x 3 x H x W] in [-1, 1] (top row) and, given their masks [N x K x H x W],
    the region maps over them and alone: training's sample grids and TensorBoard pictures."""
    pictures = to_uint8(images)
    rows = [pictures]
    if masks is not None:
        regions = region_map(masks)
        rows += [overlay(pictures, regions), colorize(regions)]
    return grid(rows)
