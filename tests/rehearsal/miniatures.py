"""Miniatures of every dataset of the paper plan, in their real archive layouts.

The downloadable ones (Flowers, CUB, VOC, DAVIS) are written as the archives their hosts serve,
under ``www/<dataset>/``, to be served from a loopback HTTP server (``FDIFF_MIRROR``) with their
md5s in a registry override (``FDIFF_REGISTRY``); the ones that cannot be downloaded (FFHQ,
CelebAMask-HQ, ImageNet, Pixel-ImageNet) are placed in ``RAW/<name>`` as a user would. The
file formats follow tests/data/test_data_sources.py (and its helpers in tests/data/datahelp.py).

Sizes: enough images per split for a batch of 4, the fixed protocol's fit on ``train``, the
supervised U-Net, FID/KID and the figures; every VOC class appears in ``val`` (Table 7).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.io import savemat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from datahelp import (  # noqa: E402
    make_davis_zip,
    make_tar,
    md5,
    rand_image,
    save,
    save_palette,
    write_celebamask,
)

# ImageNet WordNet ids in the standard 1000-class order: tench (0), ostrich (9), Pekinese
# (154), papillon (157), tabby (281) and, for VOC's mapping, airliner (404) and tabby's
# neighbour tiger cat (282).
IMAGENET_WNIDS = [
    "n01440764",
    "n01518878",
    "n02086079",
    "n02086910",
    "n02123045",
    "n02123159",
    "n02690373",
]


def _ellipse(h: int, w: int, cy=0.5, cx=0.5, ry=0.3, rx=0.35) -> np.ndarray:
    """A boolean ellipse [h x w]."""
    y, x = np.mgrid[0:h, 0:w]
    return (((y + 0.5) / h - cy) / ry) ** 2 + (((x + 0.5) / w - cx) / rx) ** 2 <= 1


def build_flowers(www: Path, work: Path, n_train=8, n_val=4, n_test=4) -> dict:
    """102flowers.tgz, 102segmentations.tgz, setid.mat, imagelabels.mat under www/flowers."""
    rng = np.random.default_rng(0)
    src, out = work / "flowers-src", www / "flowers"
    n = n_train + n_val + n_test
    for i in range(1, n + 1):
        h, w = (40, 52) if i % 2 else (52, 40)
        img = rand_image(rng, h, w)
        fg = _ellipse(h, w)
        seg = np.where(fg[..., None], img, np.array([0, 0, 254], np.uint8))
        seg[fg & (seg.min(-1) == 0)] = 1
        save(img, src / "jpg" / f"image_{i:05d}.jpg", quality=95)
        save(seg, src / "segmim" / f"segmim_{i:05d}.jpg", quality=100, subsampling=0)
    out.mkdir(parents=True, exist_ok=True)
    make_tar(out / "102flowers.tgz", src, ["jpg"])
    make_tar(out / "102segmentations.tgz", src, ["segmim"])
    ids = list(range(1, n + 1))  # IEM/ReDO: train = tstid, val = valid, test = trnid
    sets = {
        "tstid": ids[:n_train],
        "valid": ids[n_train : n_train + n_val],
        "trnid": ids[n_train + n_val :],
    }
    savemat(out / "setid.mat", {k: np.array([v], np.uint16) for k, v in sets.items()})
    savemat(out / "imagelabels.mat", {"labels": np.array([[1] * n], np.uint8)})
    names = ["102flowers.tgz", "102segmentations.tgz", "setid.mat", "imagelabels.mat"]
    return {"flowers": {f: {"md5": md5(out / f)} for f in names}}


def build_cub(www: Path, work: Path, splits=(8, 2, 4)) -> dict:
    """CUB_200_2011.tgz, segmentations.tgz and ReDO's train_val_test_split.txt under www/cub."""
    rng = np.random.default_rng(1)
    src, out = work / "cub-src", www / "cub"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    labels = [0] * splits[0] + [1] * splits[1] + [2] * splits[2]
    rels = []
    for k in range(len(labels)):
        c = classes[k % 3]
        rel = f"{c}/{c[4:]}_{k:04d}_{1000 + k}.jpg"
        rels.append(rel)
        save(rand_image(rng, 40, 52), src / "CUB_200_2011" / "images" / rel)
        m = (_ellipse(40, 52) * 255).astype(np.uint8)
        save(m, src / "segmentations" / (rel[:-3] + "png"))
    (src / "CUB_200_2011" / "images.txt").write_text(
        "".join(f"{i + 1} {r}\n" for i, r in enumerate(rels))
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_val_test_split.txt").write_text(
        "".join(f"{i + 1} {s}\n" for i, s in enumerate(labels))
    )
    make_tar(out / "CUB_200_2011.tgz", src, ["CUB_200_2011"])
    make_tar(out / "segmentations.tgz", src, ["segmentations"])
    names = ["CUB_200_2011.tgz", "segmentations.tgz"]
    return {"cub": {f: {"md5": md5(out / f), "size": (out / f).stat().st_size} for f in names}}


def build_voc(www: Path, work: Path, n_train=2) -> dict:
    """VOCtrainval_11-May-2012.tar under www/voc: one val image per class (1..20), a person
    beside it, a void border (255)."""
    rng = np.random.default_rng(2)
    src, out = work / "voc-src", www / "voc"
    root = src / "VOCdevkit" / "VOC2012"
    ids = []
    for k in range(1, 21 + n_train):
        i = f"2007_{k:06d}"
        ids.append(i)
        save(rand_image(rng, 36, 48), root / "JPEGImages" / f"{i}.jpg")
        m = np.zeros((36, 48), np.uint8)
        m[4:32, 6:26] = (k - 1) % 20 + 1
        if k % 20 != 15:
            m[8:30, 30:44] = 15  # person
        m[:2, :] = 255
        save_palette(m, root / "SegmentationClass" / f"{i}.png")
    sets = root / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("\n".join(ids[:20]) + "\n")
    (sets / "train.txt").write_text("\n".join(ids[20:]) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    tar = make_tar(out / "VOCtrainval_11-May-2012.tar", src, ["VOCdevkit"], mode="w")
    return {"voc": {"VOCtrainval_11-May-2012.tar": {"md5": md5(tar)}}}


def build_davis(www: Path, work: Path) -> dict:
    """DAVIS-2017-trainval-480p.zip under www/davis: two val sequences and a train one, 3
    frames each, two objects per frame. DAVIS publishes no checksum: none in the override."""
    rng = np.random.default_rng(3)
    seqs = {"bear": "val", "car-shadow": "val", "blackswan": "train"}
    boxes = [(slice(6, 30), slice(8, 30)), (slice(6, 30), slice(34, 56))]
    make_davis_zip(www / "davis", work / "davis-src", seqs, (36, 64), boxes, rng)
    return {}


def place_ffhq(raw: Path, n_train=8, n_val=4) -> None:
    """RAW/ffhq: thumbnails128x128/00000/*.png and ffhq-dataset-v2.json (with their md5s)."""
    rng = np.random.default_rng(4)
    root = raw / "ffhq"
    meta = {}
    for i in range(n_train + n_val):
        p = save(rand_image(rng, 64, 64), root / "thumbnails128x128" / "00000" / f"{i:05d}.png")
        meta[str(i)] = {
            "category": "training" if i < n_train else "validation",
            "thumbnail": {"file_path": f"thumbnails128x128/00000/{i:05d}.png", "file_md5": md5(p)},
        }
    (root / "ffhq-dataset-v2.json").write_text(json.dumps(meta))


def place_celebamask(raw: Path, splits=(8, 2, 4)) -> None:
    """RAW/celebamask/CelebAMask-HQ: images, per-part annotation PNGs and the CelebA mapping."""
    rng = np.random.default_rng(5)
    firsts = (0, 162_771, 182_638)  # CelebA's partition: train, val, test
    orig = [first + j for first, n in zip(firsts, splits, strict=True) for j in range(n)]
    s = 32
    parts = {
        "skin": (slice(8, 28), slice(6, 26)),
        "l_eye": (slice(12, 14), slice(10, 13)),
        "hair": (slice(0, 10), slice(0, 32)),
        "cloth": (slice(28, 32), slice(0, 32)),
    }
    write_celebamask(raw / "celebamask" / "CelebAMask-HQ", dict(enumerate(orig)), parts, rng, s)


def place_imagenet(raw: Path, per_class=2) -> None:
    """RAW/imagenet: ILSVRC-2012 train/<wnid>/*.JPEG and val/<wnid>/*.JPEG."""
    rng = np.random.default_rng(6)
    root = raw / "imagenet"
    for k, w in enumerate(IMAGENET_WNIDS):
        for j in range(per_class):
            save(rand_image(rng, 40, 52), root / "train" / w / f"{w}_{j}.JPEG")
        save(rand_image(rng, 40, 52), root / "val" / w / f"ILSVRC2012_val_{k:08d}.JPEG")


def place_pixelimagenet(raw: Path, counts=(10, 8, 8)) -> None:
    """RAW/pixelimagenet: images/<wnid>/*.JPEG with masks/<wnid>/*.png (non-zero = object);
    more per class than the rehearsal's test subset, so that a train split is left."""
    rng = np.random.default_rng(7)
    root = raw / "pixelimagenet"
    for w, n in zip(IMAGENET_WNIDS, counts, strict=False):
        for j in range(n):
            save(rand_image(rng, 36, 36), root / "images" / w / f"{w}_{j}.JPEG")
            m = (_ellipse(36, 36) * (1 + j % 2)).astype(np.uint8)
            save(m, root / "masks" / w / f"{w}_{j}.png")


def build_all(www: Path, raw: Path, work: Path) -> dict:
    """Every miniature; returns the registry override (md5s of the served files)."""
    registry: dict = {}
    registry.update(build_flowers(www, work))
    registry.update(build_cub(www, work))
    registry.update(build_voc(www, work))
    registry.update(build_davis(www, work))
    place_ffhq(raw)
    place_celebamask(raw)
    place_imagenet(raw)
    place_pixelimagenet(raw)
    return registry
