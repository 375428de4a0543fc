"""FFHQ from a local copy (Google Drive only: ``fdiff download ffhq`` cannot fetch it).

Raw layout: ``thumbnails128x128/<folder>/<id>.png`` (used for resolutions up to 128) or
``images1024x1024/<folder>/<id>.png`` (used above 128, or when there are no thumbnails),
optionally ``ffhq-dataset-v2.json``. A directory holding the PNGs directly also works.

Split: with the JSON, its ``category`` field (training / validation); without it, the standard
rule: the first 60,000 images (by id) train, the rest (10,000) val. With the JSON every used
file is also checked against its ``file_md5``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fdiff.data.download import file_digests
from fdiff.data.sources.common import Item, Plan, list_images
from fdiff.errors import FdiffError
from fdiff.progress import progress as pbar

log = logging.getLogger(__name__)

NUM_TRAIN = 60_000
JSON_NAME = "ffhq-dataset-v2.json"


def _image_dir(raw: Path, res: int) -> tuple[Path, str]:
    thumbs, full = raw / "thumbnails128x128", raw / "images1024x1024"
    if thumbs.is_dir() and (res <= 128 or not full.is_dir()):
        return thumbs, "thumbnail"
    if full.is_dir():
        return full, "image"
    if list_images(raw):
        return raw, "thumbnail"
    raise FdiffError(
        f"{raw}: no FFHQ images found (expected thumbnails128x128/ or images1024x1024/ with "
        "PNGs from NVlabs/ffhq-dataset, or a directory of PNGs)"
    )


def plan(raw: Path, res: int, num_train: int = NUM_TRAIN) -> Plan:
    folder, kind = _image_dir(raw, res)
    files = list_images(folder)
    try:
        files.sort(key=lambda p: int(p.stem))
    except ValueError:
        raise FdiffError(f"{folder}: FFHQ file names must be numeric ids like 00000.png") from None
    meta_path = raw / JSON_NAME
    sources = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as e:
            raise FdiffError(f"{meta_path}: not valid JSON: {e}") from None
        sources[JSON_NAME] = f"md5:{file_digests(meta_path)['md5']}"
        splits: dict[str, list[Item]] = {"train": [], "val": []}
        for p in pbar(files, desc="ffhq md5", unit="file"):
            entry = meta.get(str(int(p.stem)))
            if entry is None or kind not in entry:
                raise FdiffError(f"{meta_path}: no entry {kind!r} for image id {int(p.stem)} ({p})")
            want = entry[kind]["file_md5"]
            got = file_digests(p)["md5"]
            if got != want:
                raise FdiffError(f"{p}: md5 mismatch: expected {want}, got {got}")
            split = "train" if entry.get("category") == "training" else "val"
            splits[split].append(Item(p, name=p.name))
        rule = f"category field of {JSON_NAME}; every file md5-checked"
    else:
        log.warning("%s not found: files are not checksum-verified", meta_path)
        sources[folder.name] = "local (unverified)"
        splits = {
            "train": [Item(p, name=p.name) for p in files[:num_train]],
            "val": [Item(p, name=p.name) for p in files[num_train:]],
        }
        rule = f"first {num_train} ids train, the rest val"
    return Plan(
        dataset="ffhq",
        splits=splits,
        num_classes=0,
        sources=sources,
        extra={"split_rule": rule, "source_dir": folder.name},
    )
