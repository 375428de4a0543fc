"""Prediction files know where they came from (fdiff.inference.predictions): masks of one dataset
split scored against another, a model of one resolution on images of another, and a corrupt
checkpoint each end in one line that says what does not match."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from fdiff.cli import main
from fdiff.data.shapes import ShapesConfig, write_shapes


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory):
    """Two shapes files with the same split sizes and resolution (16 px) but other images."""
    d = tmp_path_factory.mktemp("prov")
    a, b = d / "a.h5", d / "b.h5"
    for path, seed in ((a, 0), (b, 1)):
        cfg = ShapesConfig(resolution=16, num_train=8, num_val=8, num_test=8, seed=seed)
        write_shapes(cfg, path)
    return a, b


def _segment(model, data, split, out, *extra):
    argv = ["segment", "--model", str(model), "--data", str(data), "--split", split]
    return main([*argv, "--out", str(out), "--batch-size", "8", "--device", "cpu", *extra])


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1, err
    return err[0]


def test_segmentation_file_records_its_split(factorized_file, two_sets, tmp_path):
    a, _ = two_sets
    out = tmp_path / "a-test.h5"
    assert _segment(factorized_file, a, "test", out) == 0
    with h5py.File(out) as f:
        attrs = dict(f.attrs)
    assert (attrs["dataset"], attrs["split"], attrs["num_images"], attrs["resolution"]) == (
        "shapes", "test", 8, 16,
    )  # fmt: skip
    assert len(attrs["images_sha256"]) == 64 and attrs["method"] == "factorized"


def test_eval_seg_refuses_masks_of_another_split(factorized_file, two_sets, tmp_path, capsys):
    a, b = two_sets
    pred = tmp_path / "a-test.h5"
    assert _segment(factorized_file, a, "test", pred) == 0
    out = tmp_path / "m.csv"
    ok = ["eval-seg", "--pred", str(pred), "--data", str(a), "--split", "test", "--out", str(out)]
    assert main(ok) == 0
    # the same 8 images of 16 px, but b's val split: the images and the split differ
    bad = ["eval-seg", "--pred", str(pred), "--data", str(b), "--split", "val", "--out", str(out)]
    capsys.readouterr()
    assert main(bad) == 2
    line = _one_error_line(capsys)
    assert "a-test.h5" in line and "shapes/test" in line and "shapes/val" in line
    assert "split, images differ" in line
    # a's own val split: only the split and its images differ
    bad[4] = str(a)
    assert main(bad) == 2
    assert "split, images differ" in _one_error_line(capsys)


def test_segment_refuses_another_resolution_unless_resized(factorized_file, tmp_path, capsys):
    big = tmp_path / "shapes32.h5"
    write_shapes(ShapesConfig(resolution=32, num_train=4, num_val=4, num_test=4), big)
    out = tmp_path / "seg32.h5"
    assert _segment(factorized_file, big, "test", out) == 2
    line = _one_error_line(capsys)
    assert "16 px" in line and "32 px" in line and "--resize" in line
    assert not out.exists()
    assert _segment(factorized_file, big, "test", out, "--resize") == 0
    with h5py.File(out) as f:
        assert f["masks"].shape == (4, 32, 32) and f.attrs["model_resolution"] == 16
        assert f["masks"][()].max() < 3


def test_random_bytes_are_a_corrupt_checkpoint(two_sets, tmp_path, capsys):
    junk = tmp_path / "model.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    assert _segment(junk, two_sets[0], "test", tmp_path / "x.h5") == 2
    line = _one_error_line(capsys)
    assert "model.pt: corrupt checkpoint" in line and "weights_only" not in line


# --- a shipped model file (config key `pretrained`, `fdiff install-model`) --------------------


def _install(src, sha, out, *extra):
    return main(["install-model", "--file", str(src), "--sha256", sha, "--out", str(out), *extra])


def test_install_model_checks_sha256_arch_and_resolution(factorized_file, ddpm_file, tmp_path,
                                                         capsys):  # fmt: skip
    from fdiff.training.checkpoint import file_sha256

    sha = file_sha256(factorized_file)
    out = tmp_path / "run" / "model.pt"
    assert _install(factorized_file, sha, out, "--arch", "factorized", "--resolution", "16") == 0
    assert out.read_bytes() == factorized_file.read_bytes()
    capsys.readouterr()

    out.unlink()
    wrong = "0" * 64
    assert _install(factorized_file, wrong, out) == 2
    line = _one_error_line(capsys)
    assert f"sha256 is {sha}, expected {wrong}" in line and str(factorized_file) in line
    assert not out.exists()  # nothing written

    assert _install(factorized_file, sha, out, "--resolution", "32") == 2
    assert "a 16 px model, expected 32 px" in _one_error_line(capsys)
    assert _install(ddpm_file, file_sha256(ddpm_file), out, "--arch", "factorized") == 2
    assert "a 'ddpm' model, expected 'factorized'" in _one_error_line(capsys)
    assert not out.exists()

    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(1).bytes(2048))
    assert _install(junk, file_sha256(junk), out) == 2
    assert "corrupt checkpoint" in _one_error_line(capsys)
    assert not out.exists() and not list(out.parent.glob(".model.pt*"))
