"""ImageNet (class-conditional training) and the Pixel-ImageNet evaluation subset; local only.

ImageNet needs a licence, so ``--raw`` points at a local copy in one of two forms:

- ILSVRC-2012 folders: ``train/<wnid>/*.JPEG`` and optionally ``val/<wnid>/*.JPEG`` (the
  validation set sorted into class folders). Labels are the index of the wnid among the
  sorted train folders (the usual 0..999 order); ``class_names`` lists the wnids.
- Downsampled ImageNet 64x64 (Chrabaszcz et al.): ``train_data_batch_*.npz`` and
  ``val_data.npz`` (``data`` uint8 [N, 3 * 64 * 64] channel-planar, ``labels`` 1..1000),
  directly in ``--raw`` or in ``Imagenet64_train_npz/`` / ``Imagenet64_val_npz/``. Labels are
  stored minus one; images are resized only when ``--res`` differs from 64. The npz labels
  follow the downsampled set's own class list, which need not be the sorted-wnid order of the
  folders; ``--npz-wnids map_clsloc.txt`` (the list of wnids by npz label) remaps them to it.

Pixel-ImageNet (masks from Zhang et al., CVPR 2020; Google Drive, no checksum): ``--raw`` holds
``masks/<wnid>/<image>.png`` (pixel values separate instances; foreground = any non-zero) and
``images/<wnid>/<image>.JPEG``. The paper's protocol keeps a random subset of at most 20
images per class (seeded); it is written as the ``test`` split with masks and labels (index of
the wnid among the sorted ``images/`` folders: the ImageNet-1k index when ``images/`` holds the
1000 ILSVRC-2012 train folders). The ``train`` split, which the fixed protocol, the
DatasetDDPM-unsup K-means and the supervised U-Net fit on, takes at most ``train_per_class``
(20) further masks per class, drawn from those the test split left (so the two never share an
image; a class with no masks left has no train images), with a second seeded generator so
that the test subset of a seed does not depend on it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from fdiff.data.hdf5 import DatasetAttrs, open_writer
from fdiff.data.preprocess import PREPROCESSING, open_image, resize_image
from fdiff.data.sources.common import IMAGE_EXTENSIONS, Item, Plan, require
from fdiff.errors import FdiffError
from fdiff.progress import progress as pbar

log = logging.getLogger(__name__)

PER_CLASS = 20
TRAIN_PER_CLASS = 20


def _class_dirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir())


def _files(folder: Path) -> list[Path]:
    return sorted(
        Path(e.path)
        for e in os.scandir(folder)
        if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
    )


def npz_files(raw: Path) -> dict[str, list[Path]]:
    """Downsampled-ImageNet npz files per split (empty lists when absent)."""
    train = sorted(raw.glob("train_data_batch_*.npz")) + sorted(
        raw.glob("Imagenet64_train_npz/train_data_batch_*.npz")
    )
    val = sorted(raw.glob("val_data.npz")) + sorted(raw.glob("Imagenet64_val_npz/val_data.npz"))
    return {"train": train, "val": val}


def plan(raw: Path) -> Plan:
    """ILSVRC-2012 folder layout -> Plan with labels (train, and val when present)."""
    train = require(raw / "train", "ILSVRC-2012 train/<wnid>/*.JPEG (ImageNet needs a licence)")
    wnids = _class_dirs(train)
    if not wnids:
        raise FdiffError(f"{train}: no class folders (expected train/<wnid>/*.JPEG)")
    index = {w: i for i, w in enumerate(wnids)}
    splits: dict[str, list[Item]] = {}
    for split in ("train", "val"):
        folder = raw / split
        if not folder.is_dir():
            continue
        items = []
        for w in pbar(_class_dirs(folder), desc=f"scan {split}", unit="class"):
            if w not in index:
                raise FdiffError(f"{folder / w}: class folder not among the train classes")
            items += [Item(p, label=index[w], name=f"{w}/{p.name}") for p in _files(folder / w)]
        splits[split] = items
    return Plan(
        dataset="imagenet",
        splits=splits,
        num_classes=0,
        labels=True,
        sources={"train": "local ILSVRC-2012 (licence)"},
        extra={"class_names": wnids},
    )


def npz_label_map(path: Path) -> np.ndarray:
    """int64 [1001]: npz label (1..1000) -> sorted-wnid index (0..999), from a file whose line
    L starts with the wnid of npz label L (the ILSVRC devkit's ``map_clsloc.txt``:
    ``n02119789 1 kit_fox``; a second column, when present, must be L)."""
    try:
        lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    except OSError as e:
        raise FdiffError(f"{path}: cannot read the npz wnid list ({e})") from None
    wnids = [ln[0] for ln in lines]
    if len(wnids) != 1000 or len(set(wnids)) != 1000:
        raise FdiffError(f"{path}: {len(set(wnids))} distinct wnids, expected 1000 (one a line)")
    for k, ln in enumerate(lines, 1):
        if len(ln) > 1 and ln[1].isdigit() and int(ln[1]) != k:
            raise FdiffError(f"{path}: line {k} gives label {ln[1]}, expected {k}")
    index = {w: i for i, w in enumerate(sorted(wnids))}
    return np.array([-1] + [index[w] for w in wnids], np.int64)


def prepare_npz(raw: Path, res: int, out: Path, wnids_file: Path | None = None) -> dict[str, int]:
    """Downsampled ImageNet 64x64 npz files -> dataset HDF5 (resized only if res != 64).

    The npz labels (1..1000) are stored minus one, in the npz's own class order; with
    ``wnids_file`` (:func:`npz_label_map`) they are remapped to the sorted-wnid order of the
    ILSVRC folders, which the ImageNet -> VOC map and the figure classes use.
    """
    files = npz_files(raw)
    if not files["train"]:
        raise FdiffError(f"{raw}: no train_data_batch_*.npz found")
    remap = npz_label_map(wnids_file) if wnids_file else None
    counts = {}
    attrs = DatasetAttrs(
        dataset="imagenet",
        resolution=res,
        num_classes=0,
        preprocessing="downsampled ImageNet 64x64 npz"
        + ("" if res == 64 else "; " + PREPROCESSING.format(res=res)),
        sources={p.name: "local downsampled ImageNet (licence)" for v in files.values() for p in v},
        extra={
            "labels": "downsampled-ImageNet labels minus 1"
            if remap is None
            else f"sorted-wnid index (npz labels remapped through {Path(wnids_file).name})"
        },
    )
    with open_writer(out, attrs) as w:
        for split, paths in files.items():
            if not paths:
                continue
            sizes = []
            for p in paths:
                with np.load(p) as z:
                    if "data" not in z or "labels" not in z:
                        raise FdiffError(f"{p}: expected arrays 'data' and 'labels'")
                    sizes.append(len(z["labels"]))
            w.create_split(split, sum(sizes), labels=True)
            start = 0
            for p in pbar(paths, desc=f"imagenet {split}", unit="file"):
                with np.load(p) as z:
                    data, labels = z["data"], np.asarray(z["labels"], np.int64) - 1
                if remap is not None:
                    labels = remap[labels + 1]
                if data.ndim != 2 or data.shape[1] != 3 * 64 * 64 or data.dtype != np.uint8:
                    raise FdiffError(
                        f"{p}: 'data' is {data.dtype} {data.shape}, expected uint8 [N, 12288]"
                    )
                images = data.reshape(-1, 3, 64, 64).transpose(0, 2, 3, 1)
                if res != 64:
                    images = np.stack([resize_image(Image.fromarray(x), res) for x in images])
                w.write(split, start, np.ascontiguousarray(images), labels=labels)
                start += len(images)
            counts[split] = start
    return counts


def pixel_mask(path: Path) -> np.ndarray:
    """Pixel-ImageNet mask -> uint8 [H, W]: 1 where any instance (non-zero) pixel."""
    m = np.asarray(open_image(path, mode=None))
    if m.ndim == 3:
        m = m.max(axis=2)
    return (m != 0).astype(np.uint8)


def pixel_plan(
    raw: Path, seed: int = 0, per_class: int = PER_CLASS, train_per_class: int = TRAIN_PER_CLASS
) -> Plan:
    """Per class: ``per_class`` seeded masks -> test, up to ``train_per_class`` of the rest ->
    train (disjoint; see the module docstring)."""
    if per_class < 1 or train_per_class < 0:
        raise FdiffError(
            f"per_class {per_class} / train_per_class {train_per_class}: expected >= 1 / >= 0"
        )
    masks = require(raw / "masks", "Pixel-ImageNet masks/<wnid>/<image>.png")
    images = require(raw / "images", "ImageNet train images/<wnid>/<image>.JPEG")
    wnids = _class_dirs(images)
    index = {w: i for i, w in enumerate(wnids)}
    rng = np.random.default_rng(seed)
    rng_train = np.random.default_rng([seed, 1])
    splits: dict[str, list[Item]] = {"train": [], "test": []}
    for w in _class_dirs(masks):
        if w not in index:
            raise FdiffError(f"{masks / w}: no matching class folder {images / w}")
        mask_files = _files(masks / w)
        take = sorted(rng.choice(len(mask_files), min(per_class, len(mask_files)), replace=False))
        rest = np.setdiff1d(np.arange(len(mask_files)), take)
        train = sorted(rng_train.permutation(rest)[:train_per_class].tolist())
        by_stem = {p.stem: p for p in _files(images / w)}
        for split, chosen in (("test", take), ("train", train)):
            for k in chosen:
                m = mask_files[k]
                if m.stem not in by_stem:
                    raise FdiffError(f"{m}: no image {images / w / m.stem}.JPEG for this mask")
                splits[split].append(Item(by_stem[m.stem], m, label=index[w], name=f"{w}/{m.stem}"))
    if not splits["test"]:
        raise FdiffError(f"{masks}: no masks found (expected masks/<wnid>/<image>.png)")
    if train_per_class and not splits["train"]:
        raise FdiffError(
            f"{masks}: no class has more than {per_class} masks, so the train split "
            "(fixed protocol, K-means, supervised U-Net) would be empty: take fewer per class",
            arg="per_class",
        )
    return Plan(
        dataset="pixel-imagenet",
        splits=splits,
        num_classes=2,
        mask_decoder=pixel_mask,
        labels=True,
        sources={"masks": "local Pixel-ImageNet (no published checksum)"},
        extra={
            "class_names": wnids,
            "subset": f"test: at most {per_class} per class, seed {seed}; train: at most "
            f"{train_per_class} per class of the remaining masks, seed [{seed}, 1]",
        },
    )
