"""ImageNet -> PASCAL VOC class mapping, and the class that a class-conditional ImageNet model is
conditioned on when it segments images of another dataset (zero-shot transfer, Table 7).

The mapping is the committed file ``imagenet_voc.json`` next to this module (its ``source`` and
``derivation`` fields say where it comes from): for each of the 20 VOC classes the ImageNet-1k
class indices (0..999, the sorted ILSVRC-2012 wnids) that are WordNet hyponyms of it, and one
*representative* ImageNet class.

The paper conditions the ImageNet-64 model on the class when it segments (Sec. 3.4). A VOC image
has no ImageNet label, so ``fdiff segment --condition voc-masks`` conditions each image on the
representative ImageNet class of its *dominant* VOC class: the foreground class with the most
pixels in its ground-truth mask (at the prepared resolution, void pixels not counted). An image
whose crop holds no foreground pixel gets the split's most frequent dominant class.

DAVIS-2017 has no class labels at all; ``--condition davis-names`` reads the class off the
sequence name (``<sequence>/<frame>``) through :data:`DAVIS_KEYWORDS` (``car-shadow`` -> a
car, ``dog-agility`` -> a dog); a sequence that names no known object is conditioned on the
representative of VOC ``person`` (most DAVIS sequences film people). This is a heuristic, stated
as such in docs/data.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fdiff.errors import FdiffError

MAPPING_FILE = Path(__file__).with_name("imagenet_voc.json")
NUM_IMAGENET = 1000
CONDITIONS = ("labels", "voc-masks", "davis-names")

# DAVIS sequence-name word -> ImageNet-1k class (the object the sequence follows). Words are the
# '-'-separated parts of the sequence name; the first word found decides.
DAVIS_KEYWORDS = {
    "car": 436, "classic": 436, "drift": 751, "rallye": 751, "bus": 779, "train": 547,
    "tram": 829, "boat": 814, "bike": 671, "bmx": 671, "cycling": 671, "mbike": 670,
    "motocross": 670, "motorbike": 670, "scooter": 670, "dog": 207, "dogs": 207, "libby": 207,
    "cat": 281, "cats": 281, "horse": 339, "horsejump": 339, "cow": 345, "cows": 345,
    "sheep": 348, "bear": 294, "camel": 354, "goat": 350, "pigs": 341, "elephant": 386,
    "lion": 291, "koala": 105, "fish": 1, "blackswan": 100, "swan": 100, "mallard": 97,
    "flamingo": 130, "plane": 404,
}  # fmt: skip


@dataclass(frozen=True)
class VocClass:
    """One VOC class: its id (1..20), name, ImageNet classes and the representative one."""

    voc_id: int
    name: str
    imagenet: tuple[int, ...]
    representative: int


def load_mapping(path: str | Path = MAPPING_FILE) -> dict[int, VocClass]:
    """The mapping file -> {VOC id: VocClass}; checks ids, ranges and that no class repeats."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        entries = doc["classes"]
        out = {}
        for e in entries:
            c = VocClass(
                int(e["voc_id"]), str(e["voc"]), tuple(map(int, e["imagenet"])),
                int(e["representative"]),
            )  # fmt: skip
            out[c.voc_id] = c
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FdiffError(f"{path}: not a class-mapping file ({e})") from None
    if sorted(out) != list(range(1, 21)):
        raise FdiffError(f"{path}: VOC ids {sorted(out)}, expected each of 1..20 once")
    seen: dict[int, str] = {}
    for c in out.values():
        for i in c.imagenet:
            if not 0 <= i < NUM_IMAGENET:
                raise FdiffError(f"{path}: {c.name}: ImageNet index {i} outside 0..999")
            if i in seen:
                raise FdiffError(f"{path}: ImageNet index {i} under {seen[i]} and {c.name}")
            seen[i] = c.name
        if c.representative not in c.imagenet:
            raise FdiffError(
                f"{path}: {c.name}: representative {c.representative} not among its classes"
            )
    return out


def imagenet_to_voc(path: str | Path = MAPPING_FILE) -> np.ndarray:
    """int64 [1000]: the VOC id of every ImageNet class (0 = maps to no VOC class)."""
    out = np.zeros(NUM_IMAGENET, np.int64)
    for c in load_mapping(path).values():
        out[list(c.imagenet)] = c.voc_id
    return out


def dominant_classes(masks: np.ndarray, ignore_index: int | None = 255) -> np.ndarray:
    """Per image the foreground class with the most pixels: masks uint8 [N, H, W] -> int64 [N]
    (0 where an image has no foreground pixel). Ties go to the smaller class id."""
    n = len(masks)
    flat = masks.reshape(n, -1).astype(np.int64)
    if ignore_index is not None:
        flat = np.where(flat == ignore_index, 0, flat)
    c = int(flat.max(initial=0)) + 1
    index = (np.arange(n)[:, None] * c + flat).ravel()
    counts = np.bincount(index, minlength=n * c).reshape(n, c)
    counts[:, 0] = 0
    out = counts.argmax(1)
    out[counts.max(1) == 0] = 0
    return out


def voc_condition(masks: np.ndarray, ignore_index: int | None = 255, path=MAPPING_FILE):
    """ImageNet class per VOC image (int64 [N]): the representative of its dominant class."""
    mapping = load_mapping(path)
    voc = dominant_classes(masks, ignore_index)
    if (voc > 20).any():
        raise FdiffError(f"VOC masks hold class id {int(voc.max())}: expected 0..20 and void")
    present = voc[voc > 0]
    fallback = np.bincount(present).argmax() if present.size else 15  # 15 = person
    voc = np.where(voc > 0, voc, fallback)
    rep = np.array([0] + [mapping[i].representative for i in range(1, 21)], np.int64)
    return rep[voc]


def davis_condition(names: list[str], path=MAPPING_FILE) -> np.ndarray:
    """ImageNet class per DAVIS frame (int64 [N]) from its ``<sequence>/<frame>`` name."""
    person = load_mapping(path)[15].representative
    out = []
    for name in names:
        words = name.split("/", 1)[0].lower().split("-")
        out.append(next((DAVIS_KEYWORDS[w] for w in words if w in DAVIS_KEYWORDS), person))
    return np.array(out, np.int64)


def condition_labels(data: str | Path, split: str, how: str) -> np.ndarray | None:
    """The class of every image of ``data``/``split`` for a class-conditional model (int64 [N]):
    ``labels`` = the file's own labels (None: use them as they are), ``voc-masks`` and
    ``davis-names`` as the module docstring says."""
    import h5py

    if how not in CONDITIONS:
        raise FdiffError(f"{how!r}: expected one of {', '.join(CONDITIONS)}", arg="condition")
    if how == "labels":
        return None
    with h5py.File(data, "r") as f:
        if split not in f:
            raise FdiffError(f"{data}: no split {split!r}")
        g = f[split]
        if how == "voc-masks":
            if "masks" not in g:
                raise FdiffError(
                    f"{data}: /{split}/masks missing; voc-masks needs it", arg="condition"
                )
            ignore = f.attrs.get("ignore_index")
            return voc_condition(g["masks"][()], None if ignore is None else int(ignore))
        if "names" not in g:
            raise FdiffError(
                f"{data}: /{split}/names missing; davis-names needs them", arg="condition"
            )
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in g["names"][()]]
        return davis_condition(names)
