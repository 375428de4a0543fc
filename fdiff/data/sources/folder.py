"""Your own data: a folder of images (and optionally a parallel folder of masks).

Images: every image file under ``--raw`` (recursive). If ``--raw`` has ``train/``, ``val/`` or
``test/`` subfolders, those are the splits; otherwise every image goes to ``train`` except the
fractions ``val_fraction`` / ``test_fraction`` (a seeded random choice).

Masks (optional): ``--masks DIR`` (or ``--raw`` laid out as ``images/`` + ``masks/``) holds one
mask per image at the same relative path, with any image extension (PNG preferred). Rules:
a grayscale or palette mask keeps its values as class ids, except that a mask whose values are
all in {0, 255} is binary (255 -> 1); an RGB(A) mask is binary: foreground where any colour
channel is non-zero. ``num_classes`` is the largest id found plus one. An image without a mask
fails, naming the mask file expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fdiff.data.preprocess import open_image
from fdiff.data.sources.common import IMAGE_EXTENSIONS, Item, Plan, list_images, require
from fdiff.errors import FdiffError


def folder_mask(path: Path) -> np.ndarray:
    """A user mask file -> uint8 [H, W] of class ids (rules in the module docstring)."""
    m = np.asarray(open_image(path, mode=None))
    if m.ndim == 3:
        return (m[..., :3].max(axis=2) != 0).astype(np.uint8)
    if m.dtype != np.uint8 and m.max() > 255:
        raise FdiffError(f"{path}: mask values up to {m.max()}, expected class ids 0..255")
    values = np.unique(m)
    if values.size and np.isin(values, (0, 255)).all():
        return (m == 255).astype(np.uint8)
    return m.astype(np.uint8)


def _mask_for(image: Path, img_root: Path, mask_root: Path) -> Path:
    rel = image.relative_to(img_root).with_suffix("")
    exts = (".png", image.suffix, *IMAGE_EXTENSIONS)
    for ext in exts:
        cand = mask_root / rel.parent / (rel.name + ext)
        if cand.is_file():
            return cand
    return mask_root / rel.parent / (rel.name + ".png")  # reported as missing by run_plan


def plan(
    raw: Path,
    masks: Path | None = None,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> Plan:
    raw = require(raw, "a folder of images")
    img_root = raw
    if masks is None and (raw / "images").is_dir() and (raw / "masks").is_dir():
        img_root, masks = raw / "images", raw / "masks"
    if masks is not None:
        require(masks, "a folder of masks parallel to the images")
    split_dirs = [s for s in ("train", "val", "test") if (img_root / s).is_dir()]
    groups: dict[str, list[Path]] = {}
    if split_dirs:
        for s in split_dirs:
            groups[s] = list_images(img_root / s)
    else:
        files = list_images(img_root)
        if not 0 <= val_fraction + test_fraction < 1:
            raise FdiffError(
                f"val_fraction + test_fraction = {val_fraction + test_fraction}, expected < 1"
            )
        order = np.random.default_rng(seed).permutation(len(files))
        n_val = round(val_fraction * len(files))
        n_test = round(test_fraction * len(files))
        pick = {
            "val": order[:n_val],
            "test": order[n_val : n_val + n_test],
            "train": order[n_val + n_test :],
        }
        groups = {s: [files[i] for i in sorted(idx)] for s, idx in pick.items() if len(idx)}
    if not any(groups.values()):
        raise FdiffError(f"{img_root}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    splits = {
        s: [
            Item(
                p,
                _mask_for(p, img_root, masks) if masks is not None else None,
                name=str(p.relative_to(img_root)),
            )
            for p in files
        ]
        for s, files in groups.items()
    }
    return Plan(
        dataset="folder",
        splits=splits,
        num_classes=None if masks is not None else 0,
        mask_decoder=folder_mask if masks is not None else None,
        sources={str(raw): "local"},
        extra={"mask_rule": "ids kept; {0,255} -> {0,1}; RGB: any channel != 0"}
        if masks is not None
        else {},
    )
