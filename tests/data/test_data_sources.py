"""Every real dataset, end to end from a miniature archive in the real layout.

Each test builds the source files with the real names and formats (tgz/tar/zip, .mat via
scipy.io.savemat, Flowers' JPEG segmim with its blue background, CUB's soft PNG masks, VOC
and DAVIS palette PNGs, ...), serves the downloadable ones from a loopback HTTP server with
their md5s passed through a registry override, and runs ``fdiff download`` and
``fdiff prepare``; then it checks splits, mask rules and recorded checksums.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from datahelp import (
    make_davis_zip,
    make_tar,
    md5,
    no_temp_files,
    rand_image,
    run,
    save,
    save_palette,
    write_celebamask,
    write_registry,
)
from PIL import Image
from scipy.io import savemat

from fdiff.data.hdf5 import read_attrs, read_images, read_labels, read_masks
from fdiff.data.preprocess import resize_mask
from fdiff.data.sources.flowers import flowers_mask

RES = 16


def _ellipse(h, w, cy=0.5, cx=0.5, ry=0.3, rx=0.35):
    y, x = np.mgrid[0:h, 0:w]
    return (((y + 0.5) / h - cy) / ry) ** 2 + (((x + 0.5) / w - cx) / rx) ** 2 <= 1


def _names(path, split):
    import h5py

    with h5py.File(path) as f:
        return [n.decode() if isinstance(n, bytes) else n for n in f[split]["names"][()]]


# ------------------------------------------------------------------------------ Flowers


def build_flowers(www, n=12, top="jpg"):
    """102flowers.tgz, 102segmentations.tgz, setid.mat, imagelabels.mat under www/flowers."""
    rng = np.random.default_rng(0)
    src, out = www.parent / "flowers-src", www / "flowers"
    truth = {}
    for i in range(1, n + 1):
        h, w = (30, 40) if i % 2 else (44, 32)  # landscape and portrait: centre crop matters
        img = rand_image(rng, h, w)
        fg = _ellipse(h, w)
        seg = np.where(fg[..., None], img, np.array([0, 0, 254], np.uint8))
        seg[fg & (seg.min(-1) == 0)] = 1  # a real flower pixel is never exactly 0
        save(img, src / top / f"image_{i:05d}.jpg", quality=95)
        save(seg, src / "segmim" / f"segmim_{i:05d}.jpg", quality=100, subsampling=0)
        truth[i] = fg
    out.mkdir(parents=True)
    make_tar(out / "102flowers.tgz", src, [top])
    make_tar(out / "102segmentations.tgz", src, ["segmim"])
    ids = {"tstid": list(range(1, 7)), "valid": [7, 8, 9], "trnid": [10, 11, 12]}
    savemat(out / "setid.mat", {k: np.array([v], np.uint16) for k, v in ids.items()})
    savemat(out / "imagelabels.mat", {"labels": np.array([[1] * n], np.uint8)})
    return out, truth


def flowers_registry(tmp_path, out, **override):
    names = ["102flowers.tgz", "102segmentations.tgz", "setid.mat", "imagelabels.mat"]
    entries = {n: {"md5": md5(out / n)} for n in names}
    entries.update(override)
    return write_registry(tmp_path / "reg.json", {"flowers": entries})


def download(name, server, raw, reg):
    return run(
        "download", name, "--dest", raw, "--mirror", server.url, "--registry", reg, "--quiet"
    )


def test_flowers_end_to_end(server, tmp_path):
    out, truth = build_flowers(server.root)
    reg = flowers_registry(tmp_path, out)
    raw, h5 = tmp_path / "raw", tmp_path / "flowers.h5"
    assert download("flowers", server, raw, reg) == (0, "")
    assert (raw / "jpg" / "image_00001.jpg").is_file() and no_temp_files(raw)
    assert run("prepare", "flowers", "--raw", raw, "--res", RES, "--out", h5) == (0, "")
    # IEM/ReDO split: train = tstid, val = valid, test = trnid
    assert _names(h5, "train") == [f"image_{i:05d}.jpg" for i in range(1, 7)]
    assert _names(h5, "test") == [f"image_{i:05d}.jpg" for i in (10, 11, 12)]
    assert read_images(h5, "val").shape == (3, RES, RES, 3)
    masks = read_masks(h5, "test")
    for k, i in enumerate((10, 11, 12)):
        seg = raw / "segmim" / f"segmim_{i:05d}.jpg"
        assert np.array_equal(masks[k], resize_mask(flowers_mask(seg), RES))
        want = resize_mask(truth[i].astype(np.uint8), RES)
        assert (masks[k] == want).mean() > 0.9  # the rule recovers the drawn ellipse
    attrs = read_attrs(h5)
    assert attrs["sources"]["setid.mat"] == f"md5:{md5(out / 'setid.mat')}"
    assert attrs["sources"]["102flowers.tgz"] == f"md5:{md5(out / '102flowers.tgz')}"
    assert attrs["num_classes"] == 2 and attrs["resolution"] == RES


def test_flowers_mask_rule(tmp_path):
    seg = np.array([[[0, 5, 9], [5, 0, 9], [7, 7, 254], [7, 7, 253], [0, 0, 254]]], np.uint8)
    p = save(seg, tmp_path / "segmim_00001.jpg", format="PNG")  # exact values, real name
    assert flowers_mask(p).tolist() == [[0, 0, 0, 1, 0]]


def test_checksum_mismatch_fails_and_removes(server, tmp_path):
    out, _ = build_flowers(server.root)
    reg = flowers_registry(tmp_path, out, **{"setid.mat": {"md5": "f" * 32}})
    raw = tmp_path / "raw"
    rc, err = download("flowers", server, raw, reg)
    assert rc == 2 and "\n" not in err
    assert f"setid.mat: md5 mismatch: expected {'f' * 32}, got {md5(out / 'setid.mat')}" in err
    assert not (raw / "setid.mat").exists() and no_temp_files(raw)


def test_truncated_archive(server, tmp_path):
    out, _ = build_flowers(server.root)
    data = (out / "102flowers.tgz").read_bytes()
    (out / "102flowers.tgz").write_bytes(data[: len(data) // 2])
    reg = flowers_registry(tmp_path, out)  # checksum of the truncated file: it verifies
    raw = tmp_path / "raw"
    rc, err = download("flowers", server, raw, reg)
    assert rc == 2 and "102flowers.tgz: truncated or corrupt archive" in err and "\n" not in err
    assert not (raw / "jpg").exists() and no_temp_files(raw)


def test_unexpected_layout(server, tmp_path):
    out, _ = build_flowers(server.root, top="images")
    raw = tmp_path / "raw"
    rc, err = download("flowers", server, raw, flowers_registry(tmp_path, out))
    assert rc == 2 and "102flowers.tgz: unexpected layout: expected top-level entry 'jpg'" in err
    assert not (raw / "images").exists() and no_temp_files(raw)


@pytest.fixture
def flowers_raw(server, tmp_path):
    out, _ = build_flowers(server.root)
    raw = tmp_path / "raw"
    assert download("flowers", server, raw, flowers_registry(tmp_path, out)) == (0, "")
    return raw


def test_corrupt_image_leaves_old_output_untouched(flowers_raw, tmp_path):
    h5 = tmp_path / "out" / "flowers.h5"
    h5.parent.mkdir()
    h5.write_bytes(b"previous")
    bad = flowers_raw / "jpg" / "image_00004.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated JPEG
    rc, err = run("prepare", "flowers", "--raw", flowers_raw, "--res", RES, "--out", h5)
    assert rc == 2 and str(bad) in err and "cannot decode image" in err and "\n" not in err
    assert h5.read_bytes() == b"previous" and no_temp_files(h5.parent)


def test_missing_mask(flowers_raw, tmp_path):
    (flowers_raw / "segmim" / "segmim_00011.jpg").unlink()
    h5 = tmp_path / "f.h5"
    rc, err = run("prepare", "flowers", "--raw", flowers_raw, "--res", RES, "--out", h5)
    assert rc == 2 and err.startswith(str(flowers_raw / "segmim" / "segmim_00011.jpg"))
    assert "missing mask" in err and not h5.exists()


def test_bad_setid(flowers_raw, tmp_path):
    savemat(flowers_raw / "setid.mat", {"trnid": np.array([[1]])})
    rc, err = run(
        "prepare", "flowers", "--raw", flowers_raw, "--res", RES, "--out", tmp_path / "f.h5"
    )
    assert rc == 2 and "setid.mat: missing key 'tstid'" in err


# ---------------------------------------------------------------------------------- CUB


def test_cub_end_to_end(server, tmp_path):
    rng = np.random.default_rng(1)
    src, out = tmp_path / "cub-src", server.root / "cub"
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    rels, soft = [], {}
    for k in range(9):
        rel = f"{classes[k % 3]}/{classes[k % 3][4:]}_{k:04d}_{1000 + k}.jpg"
        rels.append(rel)
        img = rand_image(rng, 24, 32)
        if k == 4:
            img = img[..., 0]  # CUB has a few grayscale JPEGs
        save(img, src / "CUB_200_2011" / "images" / rel)
        m = np.zeros((24, 32), np.uint8)
        m[4:20, 6:26] = 255
        m[4:20, 6:8] = 128  # 128 / 255 > 0.5: foreground
        m[4:20, 24:26] = 127  # 127 / 255 < 0.5: background
        if k == 5:
            m = np.stack([m, np.zeros_like(m), np.zeros_like(m)], -1)  # channel 0 decides
        save(m, src / "segmentations" / (rel[:-3] + "png"))
        soft[rel] = m if m.ndim == 2 else m[..., 0]
    (src / "CUB_200_2011" / "images.txt").write_text(
        "".join(f"{i + 1} {r}\n" for i, r in enumerate(rels))
    )
    split = [0, 0, 2, 0, 1, 0, 2, 0, 0]
    out.mkdir(parents=True)
    (out / "train_val_test_split.txt").write_text(
        "".join(f"{i + 1} {s}\n" for i, s in enumerate(split))
    )
    make_tar(out / "CUB_200_2011.tgz", src, ["CUB_200_2011"])
    make_tar(out / "segmentations.tgz", src, ["segmentations"])
    reg = write_registry(
        tmp_path / "reg.json",
        {
            "cub": {
                "CUB_200_2011.tgz": {
                    "md5": md5(out / "CUB_200_2011.tgz"),
                    "size": (out / "CUB_200_2011.tgz").stat().st_size,
                },
                "segmentations.tgz": {
                    "md5": md5(out / "segmentations.tgz"),
                    "size": (out / "segmentations.tgz").stat().st_size,
                },
            }
        },
    )
    raw, h5 = tmp_path / "raw", tmp_path / "cub.h5"
    assert download("cub", server, raw, reg) == (0, "")
    assert run("prepare", "cub", "--raw", raw, "--res", RES, "--out", h5) == (0, "")
    assert _names(h5, "test") == [rels[2], rels[6]]
    assert _names(h5, "val") == [rels[4]] and len(_names(h5, "train")) == 6
    for split in ("train", "test"):
        for name, m in zip(_names(h5, split), read_masks(h5, split), strict=True):
            assert np.array_equal(m, resize_mask((soft[name] > 127).astype(np.uint8), RES))
    sources = read_attrs(h5)["sources"]
    assert sources["train_val_test_split.txt"] == (
        f"md5:{md5(out / 'train_val_test_split.txt')} (unverified)"
    )
    # a split file that does not match images.txt is rejected
    (raw / "train_val_test_split.txt").write_text("1 0\n2 5\n")
    rc, err = run("prepare", "cub", "--raw", raw, "--res", RES, "--out", tmp_path / "x.h5")
    assert rc == 2 and "train_val_test_split.txt: image 2 has label '5'" in err


# ---------------------------------------------------------------------------------- VOC


def test_voc_end_to_end(server, tmp_path):
    rng = np.random.default_rng(2)
    src, out = tmp_path / "voc-src", server.root / "voc"
    root = src / "VOCdevkit" / "VOC2012"
    ids = ["2007_000032", "2007_000039", "2007_000063", "2007_000068"]
    for i in ids:
        save(rand_image(rng, 20, 28), root / "JPEGImages" / f"{i}.jpg")
        m = np.zeros((20, 28), np.uint8)
        m[2:18, 4:14], m[2:18, 14:24], m[:4, :] = 1, 15, 255
        save_palette(m, root / "SegmentationClass" / f"{i}.png")
    sets = root / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("\n".join(ids[:1]) + "\n")
    (sets / "val.txt").write_text("\n".join(ids[1:]) + "\n")
    out.mkdir(parents=True)
    tar = make_tar(out / "VOCtrainval_11-May-2012.tar", src, ["VOCdevkit"], mode="w")
    reg = write_registry(
        tmp_path / "reg.json", {"voc": {"VOCtrainval_11-May-2012.tar": {"md5": md5(tar)}}}
    )
    raw, h5 = tmp_path / "raw", tmp_path / "voc.h5"
    assert download("voc", server, raw, reg) == (0, "")
    assert run("prepare", "voc", "--raw", raw, "--res", RES, "--out", h5) == (0, "")
    masks = read_masks(h5, "val")
    assert masks.shape == (3, RES, RES) and set(np.unique(masks)) == {0, 1, 15, 255}
    attrs = read_attrs(h5)
    assert attrs["ignore_index"] == 255 and attrs["class_names"][15] == "person"
    assert attrs["num_classes"] == 21


# -------------------------------------------------------------------------------- DAVIS


def test_davis_end_to_end(server, tmp_path):
    rng = np.random.default_rng(3)
    out = server.root / "davis"
    seqs = {"bear": "val", "bmx-trees": "val", "blackswan": "train"}
    boxes = [(slice(5, 15), slice(10, 20)), (slice(5, 15), slice(22, 30))]  # two objects
    make_davis_zip(out, tmp_path / "davis-src", seqs, (24, 42), boxes, rng)
    raw, h5 = tmp_path / "raw", tmp_path / "davis.h5"
    reg = write_registry(tmp_path / "reg.json", {})  # no checksum: recorded, unverified
    assert download("davis", server, raw, reg) == (0, "")
    assert run("prepare", "davis", "--raw", raw, "--res", RES, "--out", h5) == (0, "")
    assert _names(h5, "val")[:3] == ["bear/00000", "bear/00001", "bear/00002"]
    assert len(_names(h5, "val")) == 6 and len(_names(h5, "train")) == 3
    assert set(np.unique(read_masks(h5, "val"))) == {0, 1}
    zip_md5 = md5(out / "DAVIS-2017-trainval-480p.zip")
    assert read_attrs(h5)["sources"]["DAVIS-2017-trainval-480p.zip"] == (
        f"md5:{zip_md5} (unverified)"
    )


# --------------------------------------------------------------------------------- FFHQ


def _ffhq_raw(tmp_path, n=6):
    rng = np.random.default_rng(4)
    raw = tmp_path / "ffhq"
    meta = {}
    for i in range(n):
        p = save(rand_image(rng, 32, 32), raw / "thumbnails128x128" / "00000" / f"{i:05d}.png")
        meta[str(i)] = {
            "category": "training" if i < 4 else "validation",
            "thumbnail": {"file_path": f"thumbnails128x128/00000/{i:05d}.png", "file_md5": md5(p)},
        }
    return raw, meta


def test_ffhq_local_copy(tmp_path):
    raw, meta = _ffhq_raw(tmp_path)
    h5 = tmp_path / "ffhq.h5"
    assert run("prepare", "ffhq", "--raw", raw, "--res", RES, "--out", h5, "--num-train", 5) == (
        0,
        "",
    )
    assert len(read_images(h5, "train")) == 5 and len(read_images(h5, "val")) == 1
    assert read_attrs(h5)["sources"] == {"thumbnails128x128": "local (unverified)"}
    (raw / "ffhq-dataset-v2.json").write_text(json.dumps(meta))
    assert run("prepare", "ffhq", "--raw", raw, "--res", RES, "--out", h5) == (0, "")
    assert _names(h5, "val") == ["00004.png", "00005.png"]
    assert read_attrs(h5)["num_classes"] == 0
    meta["2"]["thumbnail"]["file_md5"] = "0" * 32
    (raw / "ffhq-dataset-v2.json").write_text(json.dumps(meta))
    rc, err = run("prepare", "ffhq", "--raw", raw, "--res", RES, "--out", tmp_path / "x.h5")
    assert rc == 2 and "00002.png: md5 mismatch: expected " + "0" * 32 in err


# --------------------------------------------------------------------------- CelebAMask


def test_celebamask_part_merge(tmp_path):
    rng = np.random.default_rng(5)
    orig = {0: 100, 1: 170_000, 2: 190_000, 3: 200_000}  # train, val, test, test
    s = 32
    parts = {
        "skin": (slice(8, 28), slice(6, 26)),
        "l_eye": (slice(12, 14), slice(10, 13)),
        "hair": (slice(0, 10), slice(0, 32)),
        "hat": (slice(0, 4), slice(8, 24)),  # painted after hair: background
        "cloth": (slice(28, 32), slice(0, 32)),
    }
    expect = np.zeros((s, s), np.uint8)
    for part, (ys, xs) in parts.items():
        expect[ys, xs] = {"skin": 1, "l_eye": 1, "hair": 2}.get(part, 0)
    root = tmp_path / "raw" / "CelebAMask-HQ"
    write_celebamask(root, orig, parts, rng, s)
    h5 = tmp_path / "celeba.h5"
    assert run("prepare", "celebamask", "--raw", tmp_path / "raw", "--res", s, "--out", h5) == (
        0,
        "",
    )
    assert _names(h5, "test") == ["2.jpg", "3.jpg"] and _names(h5, "val") == ["1.jpg"]
    assert np.array_equal(read_masks(h5, "test")[0], expect)
    attrs = read_attrs(h5)
    assert attrs["num_classes"] == 3 and "hair = hair" in attrs["part_merge_caption"]
    # the merge is configurable: hat counted as hair
    assert run(
        "prepare",
        "celebamask",
        "--raw",
        tmp_path / "raw",
        "--res",
        s,
        "--out",
        h5,
        "--hair-parts",
        "hair,hat",
        "--splits",
        "test",
    ) == (0, "")
    expect[parts["hat"]] = 2
    assert np.array_equal(read_masks(h5, "test")[0], expect)
    # an image without any part PNG is a missing mask
    for p in (root / "CelebAMask-HQ-mask-anno" / "0").glob("00003_*.png"):
        p.unlink()
    rc, err = run("prepare", "celebamask", "--raw", tmp_path / "raw", "--res", s, "--out", h5)
    assert rc == 2 and "00003_skin.png: missing mask" in err


# ----------------------------------------------------------------------------- ImageNet


def test_imagenet_folders_and_npz(tmp_path):
    rng = np.random.default_rng(6)
    raw = tmp_path / "ilsvrc"
    wnids = ["n01440764", "n01443537", "n01484850"]
    for k, w in enumerate(wnids):
        for j in range(2):
            save(rand_image(rng, 20, 30), raw / "train" / w / f"{w}_{j}.JPEG")
        if k < 2:
            save(rand_image(rng, 20, 30), raw / "val" / w / f"ILSVRC2012_val_{k:08d}.JPEG")
    h5 = tmp_path / "in.h5"
    assert run("prepare", "imagenet", "--raw", raw, "--res", RES, "--out", h5) == (0, "")
    assert read_labels(h5, "train").tolist() == [0, 0, 1, 1, 2, 2]
    assert read_labels(h5, "val").tolist() == [0, 1]
    assert read_attrs(h5)["class_names"] == wnids

    npz = tmp_path / "npz"
    npz.mkdir()
    data = rng.integers(0, 256, (5, 3 * 64 * 64), dtype=np.uint8)
    np.savez(npz / "train_data_batch_1.npz", data=data, labels=[1, 2, 3, 1000, 5])
    np.savez(npz / "val_data.npz", data=data[:2], labels=[7, 8])
    h5 = tmp_path / "in64.h5"
    assert run("prepare", "imagenet", "--raw", npz, "--res", 64, "--out", h5) == (0, "")
    want = data.reshape(5, 3, 64, 64).transpose(0, 2, 3, 1)
    assert np.array_equal(read_images(h5, "train"), want)  # no resize at 64 px
    assert read_labels(h5, "train").tolist() == [0, 1, 2, 999, 4]
    assert read_labels(h5, "val").tolist() == [6, 7]
    # --npz-wnids: npz label L is the wnid on line L; labels become sorted-wnid indices
    wn = [f"n{k:08d}" for k in range(1000)][::-1]  # npz label 1 = the last wnid in sorted order
    (npz / "map_clsloc.txt").write_text("".join(f"{w} {k} c{k}\n" for k, w in enumerate(wn, 1)))
    h5 = tmp_path / "in64-wnid.h5"
    argv = ["prepare", "imagenet", "--raw", npz, "--res", 64, "--out", h5]
    assert run(*argv, "--npz-wnids", npz / "map_clsloc.txt") == (0, "")
    assert read_labels(h5, "train").tolist() == [999, 998, 997, 0, 995]
    (npz / "map_clsloc.txt").write_text("n1 1 a\nn2 2 b\n")
    rc, err = run(*argv[:-1], tmp_path / "bad.h5", "--npz-wnids", npz / "map_clsloc.txt")
    assert rc == 2 and "2 distinct wnids, expected 1000" in err


def test_pixel_imagenet_subset(tmp_path):
    rng = np.random.default_rng(7)
    raw = tmp_path / "pix"
    counts = {"n01440764": 23, "n01443537": 3}
    for w in ["n01440764", "n01443537", "n09999999"]:
        (raw / "images" / w).mkdir(parents=True)
    for w, n in counts.items():
        for j in range(n):
            save(rand_image(rng, 12, 12), raw / "images" / w / f"{w}_{j}.JPEG")
            m = np.zeros((12, 12), np.uint8)
            m[2:6, 2:6], m[7:10, 7:10] = 1, 2  # two instances
            save(m, raw / "masks" / w / f"{w}_{j}.png")
    outs = []
    for seed in (0, 0, 1):
        h5 = tmp_path / f"p{seed}.h5"
        assert run(
            "prepare", "pixel-imagenet", "--raw", raw, "--res", 12, "--out", h5, "--seed", seed
        ) == (0, "")
        outs.append(_names(h5, "test"))
    assert len(outs[0]) == 20 + 3 and outs[0] == outs[1] and outs[0] != outs[2]
    labels = read_labels(tmp_path / "p0.h5", "test")
    assert (labels == 0).sum() == 20 and (labels == 1).sum() == 3
    assert set(np.unique(read_masks(tmp_path / "p0.h5", "test"))) == {0, 1}
    # train: the masks that test left (3 of the first class, none of the second), disjoint
    train = _names(tmp_path / "p0.h5", "train")
    assert len(train) == 3 and not set(train) & set(outs[0])
    assert set(train) | set(outs[0]) >= {f"n01440764/n01440764_{j}" for j in range(23)}
    assert read_labels(tmp_path / "p0.h5", "train").tolist() == [0, 0, 0]
    # fewer train images per class leave the test subset as it is
    h5 = tmp_path / "p0-1.h5"
    argv = ["prepare", "pixel-imagenet", "--raw", raw, "--res", 12, "--out", h5]
    assert run(*argv, "--train-per-class", 1) == (0, "")
    assert _names(h5, "test") == outs[0] and set(_names(h5, "train")) < set(train)
    # every mask in test: an empty train split is an error, and nothing is written
    rc, err = run(*argv[:-1], tmp_path / "none.h5", "--per-class", 23)
    assert (
        rc == 2
        and "train split" in err
        and "argument --per-class:" in err
        and "more than 23 masks" in err
    )
    assert not (tmp_path / "none.h5").exists()


# ------------------------------------------------------------------------------- folder


def test_folder_with_masks(tmp_path):
    rng = np.random.default_rng(8)
    raw = tmp_path / "mine"
    for k in range(6):
        save(rand_image(rng, 20, 20), raw / "images" / "a" / f"{k}.jpg")
        m = np.zeros((20, 20), np.uint8)
        m[5:15, 5:15] = 255 if k < 3 else 2
        save(m, raw / "masks" / "a" / f"{k}.png")
    h5 = tmp_path / "mine.h5"
    assert run(
        "prepare", "folder", "--raw", raw, "--res", 10, "--out", h5, "--val-fraction", 0.34
    ) == (0, "")
    names = _names(h5, "train") + _names(h5, "val")
    assert sorted(names) == [f"a/{k}.jpg" for k in range(6)] and len(_names(h5, "val")) == 2
    masks = {n: m for n, m in zip(_names(h5, "train"), read_masks(h5, "train"), strict=True)}
    for n, m in masks.items():
        assert set(np.unique(m)) == ({0, 1} if int(n[2]) < 3 else {0, 2})  # 255 -> 1
    assert read_attrs(h5)["num_classes"] == 3
    (raw / "masks" / "a" / "4.png").unlink()
    rc, err = run("prepare", "folder", "--raw", raw, "--res", 10, "--out", tmp_path / "y.h5")
    assert rc == 2 and str(raw / "masks" / "a" / "4.png") in err and "missing mask" in err


def test_folder_split_dirs_without_masks(tmp_path):
    rng = np.random.default_rng(9)
    raw = tmp_path / "mine"
    for split, n in (("train", 3), ("test", 2)):
        for k in range(n):
            save(rand_image(rng, 14, 20), raw / split / f"{k}.png")
    Image.new("RGB", (5, 5)).save(raw / "train" / "x.bmp")
    (raw / "train" / "notes.txt").write_text("not an image")
    h5 = tmp_path / "m.h5"
    assert run("prepare", "folder", "--raw", raw, "--res", 8, "--out", h5) == (0, "")
    assert len(read_images(h5, "train")) == 4 and len(read_images(h5, "test")) == 2
    h5b = tmp_path / "m2.h5"  # decoding in a process pool gives the same bytes
    assert run("prepare", "folder", "--raw", raw, "--res", 8, "--out", h5b, "--workers", 2) == (
        0,
        "",
    )
    assert np.array_equal(read_images(h5, "train"), read_images(h5b, "train"))
    rc, err = run("prepare", "folder", "--raw", tmp_path / "nowhere", "--res", 8, "--out", h5)
    assert rc == 2 and "argument --raw:" in err and "nowhere: no such directory" in err
