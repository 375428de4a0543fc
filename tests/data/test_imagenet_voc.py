"""The committed ImageNet -> VOC class mapping and the zero-shot conditioning of `fdiff segment`."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from fdiff.cli import main
from fdiff.config import DiffusionConfig, model_config_from_dict
from fdiff.data.hdf5 import DatasetAttrs, write_arrays
from fdiff.data.imagenet_voc import (
    MAPPING_FILE,
    davis_condition,
    dominant_classes,
    imagenet_to_voc,
    load_mapping,
    voc_condition,
)
from fdiff.data.sources.voc import CLASSES
from fdiff.errors import FdiffError
from fdiff.model.build import build_model
from fdiff.training.checkpoint import model_state, save


def test_the_mapping_covers_every_voc_class_with_wordnet_ranges():
    m = load_mapping()
    assert [m[i].name for i in range(1, 21)] == list(CLASSES[1:])
    assert m[12].imagenet == tuple(range(151, 269))  # dog: Chihuahua .. Mexican hairless
    assert m[8].imagenet == tuple(range(281, 286))  # domestic cats: tabby .. Egyptian cat
    bird = set(m[3].imagenet)
    assert set(range(7, 25)) | set(range(80, 101)) | set(range(127, 147)) == bird
    assert m[13].imagenet == (339,) and m[11].imagenet == (532,)  # sorrel, dining table
    back = imagenet_to_voc()
    assert back[207] == 12 and back[404] == 1 and back[0] == 0  # tench maps to no VOC class
    doc = json.loads(MAPPING_FILE.read_text())
    assert "WordNet" in doc["source"] and doc["derivation"]


def test_a_broken_mapping_file_names_the_problem(tmp_path):
    doc = json.loads(MAPPING_FILE.read_text())
    doc["classes"][1]["imagenet"].append(doc["classes"][0]["imagenet"][0])  # one class twice
    bad = tmp_path / "map.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(FdiffError, match=r"map.json: ImageNet index 404 under aeroplane and bic"):
        load_mapping(bad)
    bad.write_text("{}")
    with pytest.raises(FdiffError, match="not a class-mapping file"):
        load_mapping(bad)


def test_dominant_class_ignores_void_and_background():
    masks = np.zeros((3, 4, 4), np.uint8)
    masks[0, :2] = 12  # 8 px dog
    masks[0, 2, :3] = 15  # 3 px person
    masks[1] = 255  # void only
    masks[1, 0, 0] = 8  # one cat pixel
    assert dominant_classes(masks).tolist() == [12, 8, 0]
    # the empty image gets the split's most frequent dominant class (a tie -> smaller id: cat)
    assert voc_condition(masks).tolist() == [207, 281, 281]


def test_davis_names_give_the_object_of_the_sequence():
    got = davis_condition(["classic-car/00000", "dance-jump/00010", "dog-agility/00003"])
    assert got.tolist() == [436, 982, 207]


def _voc_like(path, with_labels=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    masks = np.zeros((4, 16, 16), np.uint8)
    masks[0, 4:12, 4:12] = 12
    masks[1, 2:8, 2:8] = 1
    masks[2, :, :3] = 255
    masks[2, 8:, 8:] = 7
    masks[3, 5:9, 5:9] = 20
    arrays = {"images": images, "masks": masks}
    if with_labels:
        arrays["labels"] = np.full(4, 3, np.int64)
    attrs = DatasetAttrs("voc", 16, 21, "test", extra={"ignore_index": 255})
    write_arrays(path, attrs, {"val": arrays})
    return path


def _conditional_model(path):
    torch.manual_seed(0)
    cfg = model_config_from_dict({"preset": "tiny", "num_classes": 1000}, "test")
    save(model_state(cfg, DiffusionConfig(timesteps=100), build_model(cfg).state_dict(), 0), path)
    return path


def test_segment_conditions_a_class_conditional_model_through_the_mapping(
    tmp_path, monkeypatch, capsys
):
    model = _conditional_model(tmp_path / "model.pt")
    data = _voc_like(tmp_path / "voc-16.h5")
    base = ["segment", "--model", str(model), "--data", str(data), "--split", "val", "--t", "5"]
    assert main([*base, "--out", str(tmp_path / "plain.h5")]) == 2
    assert "labels missing" in capsys.readouterr().err
    assert not (tmp_path / "plain.h5").exists()
    seen = []
    import fdiff.diffusion.samplers

    real = fdiff.diffusion.samplers.segment

    def spy(model, diffusion, x0, t, y=None, generator=None):
        seen.append(y.tolist())
        return real(model, diffusion, x0, t, y=y, generator=generator)

    monkeypatch.setattr(fdiff.diffusion.samplers, "segment", spy)
    out = tmp_path / "seg.h5"
    assert main([*base, "--condition", "voc-masks", "--out", str(out)]) == 0
    assert seen == [[207, 404, 436, 851]]  # dog, aeroplane, car, tvmonitor representatives
    with h5py.File(out) as f:
        assert f["masks"].shape == (4, 16, 16)
