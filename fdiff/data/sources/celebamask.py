"""CelebAMask-HQ: faces with 3-class masks (0 background, 1 skin, 2 hair), from a local copy.

Raw layout (Google Drive / Baidu only): ``CelebAMask-HQ/`` (or ``CelebAMask-HQ.zip``, unpacked
on first use) with ``CelebA-HQ-img/<idx>.jpg`` (1024 px), ``CelebAMask-HQ-mask-anno/<idx //
2000>/<idx:05d>_<part>.png`` (512 px, part where channel 0 != 0) and
``CelebA-HQ-to-CelebA-mapping.txt`` (columns idx, orig_idx, orig_file).

Split by CelebA's official partition of ``orig_idx``: < 162,771 train, < 182,638 val, the rest
test. The paper evaluates on the test split.

Part merge (:class:`PartMerge`, a config entry because the paper does not state it): the
18 parts are painted in the official order of CelebAMask-HQ's ``g_mask.py`` (later parts
cover earlier ones); each painted part gets its class (skin parts -> 1, hair parts -> 2, every
other part -> 0). Default, as in /work/shared/reference/datasets.md: skin = skin, nose, l_eye,
r_eye, l_brow, r_brow, l_ear, r_ear, mouth, u_lip, l_lip; hair = hair; background = everything
else (eye_g i.e. eyeglasses, hat, ear_r i.e. earrings, neck_l i.e. necklace, neck, cloth and
pixels no part covers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from fdiff.data.archives import extract
from fdiff.data.download import file_digests
from fdiff.data.preprocess import open_image
from fdiff.data.sources.common import Item, Plan, require
from fdiff.errors import FdiffError

# Painting order of CelebAMask-HQ's g_mask.py.
PARTS = (
    "skin",
    "nose",
    "eye_g",
    "l_eye",
    "r_eye",
    "l_brow",
    "r_brow",
    "l_ear",
    "r_ear",
    "mouth",
    "u_lip",
    "l_lip",
    "hair",
    "hat",
    "ear_r",
    "neck_l",
    "neck",
    "cloth",
)
TRAIN_END, VAL_END = 162_771, 182_638
MAPPING = "CelebA-HQ-to-CelebA-mapping.txt"


@dataclass(frozen=True)
class PartMerge:
    """Which CelebAMask-HQ parts make class 1 (skin) and class 2 (hair); the rest is 0."""

    skin: tuple[str, ...] = (
        "skin",
        "nose",
        "l_eye",
        "r_eye",
        "l_brow",
        "r_brow",
        "l_ear",
        "r_ear",
        "mouth",
        "u_lip",
        "l_lip",
    )
    hair: tuple[str, ...] = ("hair",)

    def __post_init__(self):
        for p in (*self.skin, *self.hair):
            if p not in PARTS:
                raise FdiffError(f"unknown CelebAMask-HQ part {p!r}; expected one of {PARTS}")
        both = set(self.skin) & set(self.hair)
        if both:
            raise FdiffError(f"parts {sorted(both)} are in both skin and hair")

    def class_of(self, part: str) -> int:
        return 1 if part in self.skin else 2 if part in self.hair else 0

    def caption(self) -> str:
        return f"skin = {' + '.join(self.skin)}; hair = {' + '.join(self.hair)}; rest background"


def part_files(anno: Path, idx: int) -> list[tuple[str, Path]]:
    folder = anno / str(idx // 2000)
    return [(p, folder / f"{idx:05d}_{p}.png") for p in PARTS]


def merged_mask(first_part: Path, merge: PartMerge) -> np.ndarray:
    """Paint the part PNGs of one image (found beside ``first_part``) into uint8 [512, 512]."""
    idx = int(first_part.name.split("_")[0])
    out = None
    for part, path in part_files(first_part.parent.parent, idx):
        if not path.exists():
            continue  # not every face has every part
        m = np.asarray(open_image(path, mode=None))
        m = m[..., 0] if m.ndim == 3 else m
        if out is None:
            out = np.zeros(m.shape, np.uint8)
        elif m.shape != out.shape:
            raise FdiffError(f"{path}: part mask is {m.shape}, other parts are {out.shape}")
        out[m != 0] = merge.class_of(part)
    assert out is not None  # plan() checked that at least one part exists
    return out


def _root(raw: Path) -> Path:
    if (raw / "CelebA-HQ-img").is_dir():
        return raw
    if not (raw / "CelebAMask-HQ").is_dir() and (raw / "CelebAMask-HQ.zip").is_file():
        extract(raw / "CelebAMask-HQ.zip", raw, ("CelebAMask-HQ",))
    return require(raw / "CelebAMask-HQ", "CelebAMask-HQ/ (unpacked CelebAMask-HQ.zip)")


def plan(raw: Path, merge: PartMerge | None = None, splits=("train", "val", "test")) -> Plan:
    merge = merge or PartMerge()
    root = _root(raw)
    mapping = require(root / MAPPING, f"{MAPPING} from CelebAMask-HQ")
    img_dir = require(root / "CelebA-HQ-img", "CelebA-HQ-img/")
    anno = require(root / "CelebAMask-HQ-mask-anno", "CelebAMask-HQ-mask-anno/")
    out: dict[str, list[Item]] = {s: [] for s in ("train", "val", "test") if s in splits}
    lines = mapping.read_text().splitlines()
    if not lines or lines[0].split()[:2] != ["idx", "orig_idx"]:
        raise FdiffError(f"{mapping}: expected a header 'idx orig_idx orig_file'")
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        try:
            idx, orig = (int(v) for v in line.split()[:2])
        except ValueError:
            raise FdiffError(
                f"{mapping}: line {n} is {line!r}, expected 'idx orig_idx file'"
            ) from None
        split = "train" if orig < TRAIN_END else "val" if orig < VAL_END else "test"
        if split not in out:
            continue
        parts = [p for _, p in part_files(anno, idx) if p.exists()]
        if not parts:
            raise FdiffError(
                f"{anno / str(idx // 2000) / f'{idx:05d}_skin.png'}: missing mask "
                f"(no part PNG for image {idx})"
            )
        out[split].append(Item(img_dir / f"{idx}.jpg", parts[0], name=f"{idx}.jpg"))
    return Plan(
        dataset="celebamask",
        splits=out,
        num_classes=3,
        mask_decoder=partial(merged_mask, merge=merge),
        masks_match_image=False,  # 1024 px images, 512 px masks: both square, resized apart
        sources={MAPPING: f"md5:{file_digests(mapping)['md5']}", "CelebA-HQ-img": "local"},
        extra={
            "class_names": ["background", "skin", "hair"],
            "part_merge": asdict(merge),
            "part_merge_caption": merge.caption(),
        },
    )
