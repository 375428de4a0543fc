"""The paper's figures from result files (matplotlib + seaborn; PNG and PDF).

Every picture of images uses one layout (:func:`image_grid_figure`: rows of equally sized
images, a label left of each row, optional column labels and a legend of the regions) and one
region colour map, :data:`fdiff.inference.visual.REGION_COLOURS`; masks are shown in those colours
and overlaid on their images.

- :func:`segmentation_figure`: real images, their predicted regions, the overlay and the ground
  truth (Figs. 3-6, 13-17);
- :func:`generation_figure`: generated images with their generated masks (Figs. 7, 8, 18-21);
- :func:`mask_channels_figure`: the K soft mask channels of generated images (Fig. 9);
- :func:`trajectory_figure`: x_t and its masks along the reverse process (Fig. 10);
- :func:`class_grid_figure`: class-conditional samples, a block of rows per class (Fig. 11);
- :func:`hierarchy_figure`: generated images with both mask levels of the hierarchical model
  (appendix Fig. 15);
- :func:`interpolation_figure`: interpolation between two real images (Fig. 12);
- :func:`tsweep_figure`: segmentation scores against the noise level t (appendix);
- :func:`loss_figure`: training-loss curves of runs (``metrics.csv``).

A figure's size in pixels is fixed by its content (:func:`figure_pixels`), so tests can check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from fdiff.data.hdf5 import read_images  # noqa: E402
from fdiff.errors import FdiffError  # noqa: E402
from fdiff.inference.predictions import file_attrs, has_array, read_array, read_prediction  # noqa: E402
from fdiff.inference.visual import REGION_COLOURS, colorize, overlay  # noqa: E402
from fdiff.io import atomic_path  # noqa: E402

DPI = 100
CELL = 1.0  # inches per image
LABEL_W = 1.2  # left margin for row labels
TITLE_H = 0.4
COLS_H = 0.25  # column labels
LEGEND_H = 0.35
GAP = 0.04  # between images, inches
FORMATS = ("png", "pdf")


# -- reading ------------------------------------------------------------------------------------


# prediction, samples and interpolation files are read through their owner,
# fdiff.inference.predictions
_read, _attrs, _has = read_array, file_attrs, has_array


def _pick(n_available: int, indices: Sequence[int] | None, num: int, path) -> list[int]:
    if indices:
        bad = [i for i in indices if not 0 <= i < n_available]
        if bad:
            raise FdiffError(f"{path}: index {bad[0]}: expected 0..{n_available - 1}")
        return list(indices)
    return list(range(min(num, n_available)))


# -- layout -------------------------------------------------------------------------------------


def figure_pixels(
    n_cols: int, n_rows: int, col_labels: bool = False, legend: bool = False
) -> tuple[int, int]:
    """(width, height) in pixels of an image grid figure."""
    w = LABEL_W + n_cols * CELL
    h = TITLE_H + n_rows * CELL + (COLS_H if col_labels else 0) + (LEGEND_H if legend else 0)
    return round(w * DPI), round(h * DPI)


def image_grid_figure(
    rows: Sequence[np.ndarray],
    row_labels: Sequence[str],
    title: str,
    col_labels: Sequence[str] | None = None,
    num_regions: int = 0,
    region_names: Sequence[str] | None = None,
) -> Figure:
    """Rows of uint8 images ([n x H x W x 3] each, same n; an all-255 image is left blank)."""
    n = max(r.shape[0] for r in rows)
    legend = num_regions > 0
    wpx, hpx = figure_pixels(n, len(rows), bool(col_labels), legend)
    w, h = wpx / DPI, hpx / DPI
    fig = Figure(figsize=(w, h), dpi=DPI)
    bottom = LEGEND_H if legend else 0.0
    for r, (row, label) in enumerate(zip(rows, row_labels, strict=True)):
        y = bottom + (len(rows) - 1 - r) * CELL
        fig.text((LABEL_W - 0.08) / w, (y + CELL / 2) / h, label, ha="right", va="center",
                 fontsize=9)  # fmt: skip
        for i in range(row.shape[0]):
            ax = fig.add_axes(
                ((LABEL_W + i * CELL + GAP / 2) / w, (y + GAP / 2) / h,
                 (CELL - GAP) / w, (CELL - GAP) / h)
            )  # fmt: skip
            ax.set_axis_off()
            if not (row[i] == 255).all():
                ax.imshow(row[i], interpolation="nearest")
    if col_labels:
        y = bottom + len(rows) * CELL + COLS_H / 2
        for i, label in enumerate(col_labels):
            fig.text((LABEL_W + (i + 0.5) * CELL) / w, y / h, label, ha="center", va="center",
                     fontsize=8)  # fmt: skip
    fig.suptitle(title, y=1 - 0.5 * TITLE_H / h, va="center", fontsize=10)
    if legend:
        names = region_names or [f"region {k}" for k in range(num_regions)]
        handles = [
            Patch(color=REGION_COLOURS[k % len(REGION_COLOURS)] / 255, label=names[k])
            for k in range(num_regions)
        ]
        fig.legend(handles=handles, loc="lower center", ncol=min(num_regions, 8), fontsize=8,
                   frameon=False, bbox_to_anchor=(0.5, 0.0))  # fmt: skip
    return fig


def save_figure(fig: Figure, outs: Sequence[str | Path]) -> list[Path]:
    """Write ``fig`` to each path (format from the suffix: .png or .pdf), atomically."""
    written = []
    for out in outs:
        out = Path(out)
        fmt = out.suffix.lstrip(".").lower()
        if fmt not in FORMATS:
            raise FdiffError(f"{out}: expected a .png or .pdf file name")
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI)
        written.append(out)
    return written


def _blank(h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), 255, np.uint8)


# -- figures of images --------------------------------------------------------------------------


def class_indices(
    labels: np.ndarray, classes: Sequence[int], num: int
) -> tuple[list[int], list[int]]:
    """Indices of up to ``num`` images, an equal share per class in ``classes`` order (labels
    int [N]), and the classes that have images."""
    share = max(1, -(-num // len(classes)))
    by_class = [(c, np.flatnonzero(labels == c)[:share].tolist()) for c in classes]
    return [i for _, ii in by_class for i in ii][:num], [c for c, ii in by_class if ii]


def segmentation_figure(
    data: str | Path,
    pred: str | Path | Sequence[tuple[str, str | Path]],
    split: str = "test",
    indices: Sequence[int] | None = None,
    num: int = 8,
    title: str | None = None,
    classes: Sequence[int] | None = None,
) -> Figure:
    """Real images, predicted regions, overlay and (when the dataset has it) the ground truth.

    ``pred``: one segmentation file, or (label, file) pairs of several models of the same
    images (e.g. the demo's own run and its shipped checkpoint): each gets its segmentation and
    overlay rows, labelled. ``classes`` (datasets with labels; Fig. 6): show images of these
    classes, an equal share of ``num`` each; classes without images are skipped, and with none
    at all the first images are shown (the title says which)."""
    preds = [("", pred)] if isinstance(pred, (str, Path)) else list(pred)
    images = read_images(data, split)
    # every file's provenance is checked against the images it is drawn over
    masks = [read_prediction(p, against=(data, split)).masks for _, p in preds]
    idx = _pick(len(images), indices, num, data)
    shown_classes = []
    if classes and not indices and _has(data, f"{split}/labels"):
        labels = _read(data, f"{split}/labels", "class labels")
        picked, shown_classes = class_indices(labels, classes, num)
        idx = picked or idx
    attrs = [_attrs(p) for _, p in preds]
    k = max(
        int(a.get("num_regions", 0) or int(m.max()) + 1) for a, m in zip(attrs, masks, strict=True)
    )
    rows, labels = [images[idx]], ["image"]
    for (name, _), m in zip(preds, masks, strict=True):
        rows += [colorize(m[idx]), overlay(images[idx], m[idx])]
        labels += [f"segmentation\n({name})" if name else "segmentation", "overlay"]
    if _has(data, f"{split}/masks"):
        gt = _read(data, f"{split}/masks", "ground-truth masks")[idx]
        rows.append(np.where(gt[..., None] > 0, 255, 0).astype(np.uint8).repeat(3, -1))
        labels.append("ground truth")
    title = title or (
        f"Segmentation of {split} images"
        + (f" (t = {attrs[0]['t']})" if attrs[0].get("t") is not None else "")
        + (f", classes {', '.join(map(str, shown_classes))}" if shown_classes else "")
    )
    return image_grid_figure(rows, labels, title, num_regions=k)


def generation_figure(
    samples: str | Path, indices: Sequence[int] | None = None, num: int = 8, title=None
) -> Figure:
    """Generated images, their generated masks and the overlay (images only for a DDPM)."""
    images = _read(samples, "images", "generated images (samples HDF5)")
    idx = _pick(len(images), indices, num, samples)
    rows, labels, k = [images[idx]], ["generated"], 0
    if _has(samples, "masks"):
        masks = _read(samples, "masks", "generated masks")[idx]
        k = int(_attrs(samples).get("num_regions", 0) or int(masks.max()) + 1)
        rows += [colorize(masks), overlay(images[idx], masks)]
        labels += ["mask", "overlay"]
    a = _attrs(samples)
    title = (
        title
        or f"Generated images and masks ({a.get('sampler', '?')}, {a.get('steps', '?')} steps)"
    )
    return image_grid_figure(rows, labels, title, num_regions=k)


def mask_channels_figure(
    samples: str | Path, indices: Sequence[int] | None = None, num: int = 6, title=None
) -> Figure:
    """Each generated image above its K soft mask channels, channel k tinted in colour k."""
    images = _read(samples, "images", "generated images (samples HDF5)")
    soft = _read(samples, "soft_masks", "soft masks (fdiff sample --soft-masks)").astype(np.float32)
    idx = _pick(len(images), indices, num, samples)
    k = soft.shape[1]
    rows, labels = [images[idx]], ["generated"]
    for c in range(k):
        p = soft[idx, c][..., None]  # [n, H, W, 1] in [0, 1]
        tint = REGION_COLOURS[c % len(REGION_COLOURS)].astype(np.float32)
        rows.append((255 * (1 - p) + tint * p).round().astype(np.uint8))
        labels.append(f"channel {c}")
    return image_grid_figure(rows, labels, title or f"Mask factorization ({k} channels)")


def trajectory_figure(
    samples: str | Path, indices: Sequence[int] | None = None, num: int = 2, title=None
) -> Figure:
    """x_t and its masks at the recorded steps t (columns, T first), for a few samples."""
    x = _read(samples, "trajectory/images", "the reverse trajectory (fdiff sample --trajectory)")
    ts = _read(samples, "trajectory/t", "the trajectory's steps")
    order = np.argsort(-ts)
    x, ts = x[order], ts[order]
    m = _read(samples, "trajectory/masks", "")[order] if _has(samples, "trajectory/masks") else None
    idx = _pick(x.shape[1], indices, num, samples)
    rows, labels = [], []
    for i in idx:
        rows.append(x[:, i])
        labels.append(f"sample {i}: x_t")
        if m is not None:
            rows.append(colorize(m[:, i]))
            labels.append(f"sample {i}: mask")
    k = int(_attrs(samples).get("num_regions", 0)) if m is not None else 0
    return image_grid_figure(
        rows, labels, title or "Refinement along the reverse process",
        col_labels=[f"t = {t}" for t in ts], num_regions=k,
    )  # fmt: skip


def class_grid_figure(
    samples: str | Path,
    classes: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    num: int = 6,
    title=None,
) -> Figure:
    """Class-conditional samples: per class a row of images and a row of their masks."""
    images = _read(samples, "images", "generated images (samples HDF5)")
    labels_arr = _read(samples, "labels", "class labels (a class-conditional model's samples)")
    masks = _read(samples, "masks", "generated masks") if _has(samples, "masks") else None
    classes = list(classes) if classes else sorted(set(labels_arr.tolist()))
    if class_names and len(class_names) != len(classes):
        raise FdiffError(f"{len(class_names)} class names for {len(classes)} classes")
    rows, row_labels = [], []
    h, w = images.shape[1:3]
    for j, c in enumerate(classes):
        idx = np.flatnonzero(labels_arr == c)[:num]
        if len(idx) == 0:
            raise FdiffError(f"{samples}: no sample of class {c}")
        pad = num - len(idx)
        name = class_names[j] if class_names else f"class {c}"
        rows.append(np.concatenate([images[idx], np.stack([_blank(h, w)] * pad)]) if pad
                    else images[idx])  # fmt: skip
        row_labels.append(name)
        if masks is not None:
            mrow = overlay(images[idx], masks[idx])
            rows.append(np.concatenate([mrow, np.stack([_blank(h, w)] * pad)]) if pad else mrow)
            row_labels.append(f"{name}: masks")
    k = int(_attrs(samples).get("num_regions", 0)) if masks is not None else 0
    return image_grid_figure(rows, row_labels, title or "Class-conditional generation",
                             num_regions=k)  # fmt: skip


def hierarchy_figure(
    samples: str | Path,
    sub_regions: int,
    indices: Sequence[int] | None = None,
    num: int = 8,
    title=None,
) -> Figure:
    """Generated images and both mask levels of a hierarchical model (appendix Fig. 15).

    The samples' masks index the K1 x K2 joint regions, sub-region j of region i being
    i * K2 + j (fdiff.model.hierarchical); level 1 is the joint index // K2 (``sub_regions`` = K2).
    """
    images = _read(samples, "images", "generated images (samples HDF5)")
    joint = _read(samples, "masks", "generated masks of a hierarchical model")
    k = int(_attrs(samples).get("num_regions", 0) or int(joint.max()) + 1)
    if sub_regions < 2 or k % sub_regions:
        raise FdiffError(
            f"{samples}: {k} regions cannot be {sub_regions} sub-regions per region: expected "
            "the model's sub_regions (>= 2, dividing num_regions)"
        )
    idx = _pick(len(images), indices, num, samples)
    level1 = joint[idx] // sub_regions
    rows = [images[idx], colorize(level1), colorize(joint[idx]), overlay(images[idx], joint[idx])]
    labels = ["generated", f"level 1 ({k // sub_regions})", f"level 2 ({k})", "overlay (level 2)"]
    title = title or (
        f"Hierarchical masks: {k // sub_regions} regions, {sub_regions} sub-regions each"
    )
    return image_grid_figure(rows, labels, title, num_regions=k)


def interpolation_figure(interp: str | Path, title=None) -> Figure:
    """The two real images at the ends, the decoded interpolants between, and their masks."""
    images = _read(interp, "images", "interpolated images (fdiff interpolate)")
    sources = _read(interp, "sources", "the two real images")
    lambdas = _read(interp, "lambdas", "the interpolation weights")
    h, w = images.shape[1:3]
    rows = [np.concatenate([sources[:1], images, sources[1:]])]
    labels = ["images"]
    k = 0
    if _has(interp, "masks"):
        masks = _read(interp, "masks", "masks")
        blank = _blank(h, w)[None]
        rows.append(np.concatenate([blank, colorize(masks), blank]))
        labels.append("masks")
        k = int(_attrs(interp).get("num_regions", 0))
    cols = ["real A", *(f"{lam:.2f}" for lam in lambdas), "real B"]
    a = _attrs(interp)
    title = title or f"Interpolation at t = {a.get('t', '?')} ({a.get('mode', 'linear')})"
    return image_grid_figure(rows, labels, title, col_labels=cols, num_regions=k)


# -- plots --------------------------------------------------------------------------------------

PLOT_SIZE = (5.0, 3.5)  # inches
METRIC_NAMES = {"acc": "Acc.", "iou": "IoU", "dice": "DICE", "miou": "mIoU"}


def tsweep_figure(csv: str | Path, title: str | None = None) -> Figure:
    """Segmentation scores (percent) against t, one line per metric (appendix figure)."""
    csv = Path(csv)
    try:
        df = pd.read_csv(csv)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise FdiffError(f"{csv}: unreadable t sweep CSV ({e})") from None
    metrics = [m for m in METRIC_NAMES if m in df.columns]
    if "t" not in df.columns or not metrics:
        raise FdiffError(f"{csv}: expected columns t and acc/iou/dice or acc/miou (fdiff tsweep)")
    long = df.melt(id_vars="t", value_vars=metrics, var_name="metric", value_name="score")
    long["score"] *= 100
    long["metric"] = long["metric"].map(METRIC_NAMES)
    fig = Figure(figsize=PLOT_SIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    sns.lineplot(data=long, x="t", y="score", hue="metric", style="metric", markers=True,
                 dashes=False, ax=ax)  # fmt: skip
    ax.set_xlabel("noise level t of the one-step segmentation")
    ax.set_ylabel("score (%)")
    ds = df["dataset"].iloc[0] if "dataset" in df.columns else ""
    proto = df["protocol"].iloc[0] if "protocol" in df.columns else ""
    ax.set_title(title or f"Segmentation against t ({ds}, {proto})".replace(", )", ")"))
    ax.grid(True, alpha=0.3)
    return fig


def loss_figure(
    runs: Sequence[tuple[str, str | Path]], smooth: int = 20, title: str | None = None
) -> Figure:
    """Training loss against step for each ``(label, metrics.csv)``: an exponential moving
    average over ``smooth`` logged points, the raw values faint behind."""
    frames = []
    for label, path in runs:
        path = Path(path)
        try:
            df = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise FdiffError(f"{path}: unreadable metrics.csv ({e})") from None
        if not {"step", "loss"} <= set(df.columns):
            raise FdiffError(f"{path}: expected columns step, loss (a training run's metrics.csv)")
        if df.empty:
            raise FdiffError(f"{path}: no logged steps")
        df = df[["step", "loss"]].assign(run=label)
        df["smoothed"] = df["loss"].ewm(span=max(1, smooth)).mean()
        frames.append(df)
    if not frames:
        raise FdiffError("loss figure: no runs given")
    data = pd.concat(frames, ignore_index=True)
    fig = Figure(figsize=PLOT_SIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    palette = dict(zip(data["run"].unique(), sns.color_palette(n_colors=len(frames)), strict=True))
    sns.lineplot(data=data, x="step", y="loss", hue="run", palette=palette, alpha=0.25,
                 legend=False, ax=ax, estimator=None)  # fmt: skip
    sns.lineplot(data=data, x="step", y="smoothed", hue="run", palette=palette, ax=ax,
                 estimator=None)  # fmt: skip
    if (data["loss"] > 0).all():
        ax.set_yscale("log")
    ax.set_ylabel("training loss (Eq. 8)")
    ax.set_title(title or "Training loss")
    ax.grid(True, alpha=0.3)
    return fig
