"""Sampling in shards (fdiff.inference.sample_shards, `fdiff sample --start`, `fdiff
sample-gather`): the gathered shards equal one run with the same seed, and a shard stopped midway
resumes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from fdiff.cli import main as fdiff_main
from fdiff.config import DiffusionConfig, model_config_from_dict
from fdiff.errors import FdiffError
from fdiff.inference.sample_shards import batch_seed, gather, shard_ranges
from fdiff.model.build import build_model
from fdiff.training.checkpoint import model_state, save


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    """A randomly initialised tiny class-conditional factorized model with T = 4."""
    torch.manual_seed(0)
    cfg = model_config_from_dict({"preset": "tiny", "num_regions": 3, "num_classes": 5})
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save(model_state(cfg, DiffusionConfig(timesteps=4), model.state_dict(), 0), path)
    return path


def sample(model_pt, out, *extra):
    args = ["sample", "--model", str(model_pt), "--batch-size", "2", "--seed", "7", *extra]
    assert fdiff_main([*args, "--out", str(out)]) == 0


def read(path):
    with h5py.File(path) as f:
        return {k: f[k][()] for k in ("images", "masks", "labels")}, dict(f.attrs)


def test_gathered_shards_equal_one_run(model_pt, tmp_path):
    sample(model_pt, tmp_path / "one.h5", "--num", "8")
    shards = []
    for i, (start, stop) in enumerate(shard_ranges(8, 4)):
        shards.append(tmp_path / f"shard-{i}.h5")
        sample(model_pt, shards[-1], "--num", str(stop - start), "--start", str(start))
    # any order on the command line; index order in the file
    assert fdiff_main(["sample-gather", "--shards", *map(str, shards[::-1]), "--num", "8",
                       "--out", str(tmp_path / "gathered.h5")]) == 0  # fmt: skip
    one, attrs = read(tmp_path / "one.h5")
    got, gattrs = read(tmp_path / "gathered.h5")
    for k in one:
        np.testing.assert_array_equal(got[k], one[k])
    assert one["labels"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert len(np.unique(one["images"].reshape(8, -1), axis=0)) == 8  # every image its own
    assert gattrs["seed"] == attrs["seed"] == 7
    # another seed draws other images
    sample(model_pt, tmp_path / "other.h5", "--num", "2", "--seed", "8")
    assert not np.array_equal(read(tmp_path / "other.h5")[0]["images"], one["images"][:2])


def test_shard_resumes_from_its_finished_batches(model_pt, tmp_path, monkeypatch):
    import fdiff.inference.sample_shards as shards

    full = tmp_path / "full.h5"
    sample(model_pt, full, "--num", "6")
    calls = []
    real = shards.draw_batch

    def stop_after_two(model, diffusion, spec, start, n, device):
        if len(calls) == 2:
            raise KeyboardInterrupt("time limit")  # what a killed job leaves: two batches
        calls.append(start)
        return real(model, diffusion, spec, start, n, device)

    monkeypatch.setattr(shards, "draw_batch", stop_after_two)
    out, parts = tmp_path / "shard.h5", tmp_path / "shard.parts"
    args = ["sample", "--model", str(model_pt), "--batch-size", "2", "--seed", "7", "--num", "6"]
    assert fdiff_main([*args, "--parts", str(parts), "--out", str(out)]) != 0  # interrupted
    assert not out.exists() and len(list(parts.glob("batch-*.npz"))) == 2
    calls.clear()
    monkeypatch.setattr(shards, "draw_batch", lambda *a: calls.append(a[3]) or real(*a))
    sample(model_pt, out, "--num", "6", "--parts", str(parts))
    assert calls == [4]  # only the missing batch is drawn
    assert not parts.exists()
    for k, v in read(full)[0].items():
        np.testing.assert_array_equal(read(out)[0][k], v)


def test_parts_of_another_seed_are_not_reused(model_pt, tmp_path, monkeypatch):
    parts = tmp_path / "p"
    sample(model_pt, tmp_path / "a.h5", "--num", "2", "--parts", str(parts))
    parts.mkdir()
    (parts / "fingerprint.json").write_text('{"seed": 1}')
    (parts / "batch-000000000-2.npz").write_bytes(b"junk")
    sample(model_pt, tmp_path / "b.h5", "--num", "2", "--parts", str(parts))
    np.testing.assert_array_equal(read(tmp_path / "b.h5")[0]["images"],
                                  read(tmp_path / "a.h5")[0]["images"])  # fmt: skip


def test_gather_and_start_errors(model_pt, tmp_path):
    sample(model_pt, tmp_path / "s0.h5", "--num", "2")
    sample(model_pt, tmp_path / "s2.h5", "--num", "2", "--start", "4")
    with pytest.raises(FdiffError, match="starts at image 4, expected 2"):
        gather([tmp_path / "s0.h5", tmp_path / "s2.h5"], tmp_path / "g.h5")
    with pytest.raises(FdiffError, match="expected 6"):
        gather([tmp_path / "s0.h5"], tmp_path / "g.h5", num=6)
    assert not (tmp_path / "g.h5").exists()
    assert fdiff_main(["sample", "--model", str(model_pt), "--num", "2", "--batch-size", "2",
                       "--start", "1", "--out", str(tmp_path / "x.h5")]) == 2  # fmt: skip
    assert batch_seed(0, 0) != batch_seed(0, 2) != batch_seed(1, 0)
