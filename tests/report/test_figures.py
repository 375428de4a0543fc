"""Figures: non-empty PNG and PDF files of the expected size, from small real HDF5/CSV files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

from fdiff.cli import main
from fdiff.errors import FdiffError
from fdiff.inference.visual import REGION_COLOURS
from fdiff.report import figures as F

H = 16


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    img = lambda n: rng.integers(0, 256, (n, H, H, 3), dtype=np.uint8)  # noqa: E731
    reg = lambda *s: rng.integers(0, 3, (*s, H, H), dtype=np.uint8)  # noqa: E731
    data, seg, samples = tmp_path / "d.h5", tmp_path / "seg.h5", tmp_path / "s.h5"
    with h5py.File(data, "w") as f:
        f["test/images"], f["test/masks"] = img(10), reg(10) % 2
    with h5py.File(seg, "w") as f:
        f["masks"] = reg(10)
        f.attrs.update(num_regions=3, t=30)
    with h5py.File(samples, "w") as f:
        f["images"], f["masks"], f["labels"] = img(8), reg(8), np.array([0, 1] * 4)
        soft = rng.random((8, 3, H, H))
        f["soft_masks"] = (soft / soft.sum(1, keepdims=True)).astype(np.float16)
        f["trajectory/images"], f["trajectory/masks"] = img(4 * 8).reshape(4, 8, H, H, 3), reg(4, 8)
        f["trajectory/t"] = np.array([1, 100, 50, 10])
        f.attrs.update(num_regions=3, sampler="ddpm", steps=100)
    interp = tmp_path / "i.h5"
    with h5py.File(interp, "w") as f:
        f["images"], f["masks"], f["sources"] = img(5), reg(5), img(2)
        f["lambdas"] = np.linspace(0, 1, 5, dtype=np.float32)
        f.attrs.update(num_regions=3, t=250, mode="linear")
    tsweep = tmp_path / "ts.csv"
    tsweep.write_text(
        "method,dataset,split,protocol,t,n,num_regions,acc,iou,dice\n"
        + "".join(f"factorized,shapes,test,per_image,{t},8,3,0.8,0.5,0.6\n" for t in (0, 10, 30))
    )
    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        "step,loss,lr,images_per_s,elapsed_s\n"
        + "".join(f"{s},{1 / s},1e-4,10,{s}\n" for s in range(1, 40))
    )
    return dict(data=data, seg=seg, samples=samples, interp=interp, tsweep=tsweep, metrics=metrics)


def _check(fig, tmp_path, name, size=None):
    png, pdf = F.save_figure(fig, [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"])
    assert png.stat().st_size > 2000 and pdf.read_bytes().startswith(b"%PDF")
    picture = Image.open(png)
    if size is not None:
        assert picture.size == size
    return np.asarray(picture.convert("RGB"))


def test_image_figures_have_the_expected_size(files, tmp_path):
    pic = _check(F.segmentation_figure(files["data"], files["seg"], indices=[0, 2, 4]), tmp_path,
                 "seg", F.figure_pixels(3, 4, legend=True))  # fmt: skip
    # the region colours are what the figure shows: region 0's colour appears in the picture
    assert (pic == REGION_COLOURS[0]).all(-1).sum() > 100
    _check(F.generation_figure(files["samples"], num=5), tmp_path, "gen",
           F.figure_pixels(5, 3, legend=True))  # fmt: skip
    _check(F.mask_channels_figure(files["samples"], num=4), tmp_path, "ch",
           F.figure_pixels(4, 4))  # fmt: skip
    _check(F.trajectory_figure(files["samples"], num=2), tmp_path, "traj",
           F.figure_pixels(4, 4, col_labels=True, legend=True))  # fmt: skip
    _check(F.class_grid_figure(files["samples"], [0, 1], ["a", "b"], num=3), tmp_path, "cls",
           F.figure_pixels(3, 4, legend=True))  # fmt: skip
    _check(F.interpolation_figure(files["interp"]), tmp_path, "interp",
           F.figure_pixels(7, 2, col_labels=True, legend=True))  # fmt: skip


def test_plots(files, tmp_path):
    size = (round(F.PLOT_SIZE[0] * F.DPI), round(F.PLOT_SIZE[1] * F.DPI))
    _check(F.tsweep_figure(files["tsweep"]), tmp_path, "ts", size)
    _check(
        F.loss_figure([("a", files["metrics"]), ("b", files["metrics"])]), tmp_path, "loss", size
    )


def test_bad_inputs(files, tmp_path):
    with pytest.raises(FdiffError, match="soft_masks"):
        F.mask_channels_figure(files["interp"])
    with pytest.raises(FdiffError, match="index 99"):
        F.generation_figure(files["samples"], indices=[99])
    with pytest.raises(FdiffError, match="expected columns step, loss"):
        F.loss_figure([("x", files["tsweep"])])
    with pytest.raises(FdiffError, match=r"\.png or \.pdf"):
        F.save_figure(F.tsweep_figure(files["tsweep"]), [tmp_path / "x.jpg"])


def test_cli_figure(files, tmp_path):
    out = tmp_path / "cli.png"
    argv = ["figure", "segmentation", "--data", str(files["data"]), "--pred", str(files["seg"])]
    assert main([*argv, "--num", "2", "--out", str(out)]) == 0
    assert Image.open(out).size == F.figure_pixels(2, 4, legend=True)
    assert main(["figure", "loss", "--run", f"r={files['metrics']}", "--out", str(out)]) == 0
    # two models of the same images (the demo's run and its shipped checkpoint): each adds its
    # segmentation and overlay rows
    two = ["--pred", f"this run={files['seg']}", f"shipped={files['seg']}"]
    assert main([*argv[:4], *two, "--num", "2", "--out", str(out)]) == 0
    assert Image.open(out).size == F.figure_pixels(2, 6, legend=True)


def test_hierarchy_figure_shows_both_levels(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "h.h5"
    joint = rng.integers(0, 6, (4, H, H), dtype=np.uint8)  # K1 = 3 regions x K2 = 2
    with h5py.File(path, "w") as f:
        f["images"], f["masks"] = rng.integers(0, 256, (4, H, H, 3), dtype=np.uint8), joint
        f.attrs.update(num_regions=6)
    fig = F.hierarchy_figure(path, sub_regions=2, num=3)
    pic = _check(fig, tmp_path, "hier", F.figure_pixels(3, 4, legend=True))
    assert (pic == REGION_COLOURS[5]).all(-1).sum() > 20  # level 2 uses all 6 colours
    assert "3 regions, 2 sub-regions" in fig._suptitle.get_text()
    with pytest.raises(FdiffError, match="6 regions cannot be 4 sub-regions"):
        F.hierarchy_figure(path, sub_regions=4)
    out = tmp_path / "cli-h.png"
    argv = ["figure", "hierarchy", "--samples", str(path), "--sub-regions", "3"]
    assert main([*argv, "--num", "2", "--out", str(out)]) == 0
    assert Image.open(out).size == F.figure_pixels(2, 4, legend=True)


def test_segmentation_figure_shows_the_configured_classes(files, tmp_path):
    with h5py.File(files["data"], "a") as f:
        f["test/labels"] = np.array([5, 9, 5, 7, 9, 9, 5, 1, 1, 1])
    fig = F.segmentation_figure(files["data"], files["seg"], num=4, classes=[9, 5, 3])
    assert "classes 9, 5" in fig._suptitle.get_text()  # class 3 has no image
    _check(fig, tmp_path, "seg-cls", F.figure_pixels(4, 4, legend=True))
    labels = np.array([5, 9, 5, 7, 9, 9, 5, 1, 1, 1])
    assert F.class_indices(labels, [9, 5, 3], 4) == ([1, 4, 0, 2], [9, 5])
    assert F.class_indices(labels, [1], 2) == ([7, 8], [1])
    # no image of any class: the first images, no class named
    none = F.segmentation_figure(files["data"], files["seg"], num=2, classes=[42])
    assert "classes" not in none._suptitle.get_text()
