"""Segmentation metrics: foreground Acc / IoU / DICE (IEM's protocol) and multi-class Acc / mIoU.

Binary sets (Flowers, CUB, Pixel-ImageNet; Tables 1, 2, 4 and the t sweep). A prediction is a
region map ``pred`` [N x H x W] with values in 0..K-1; the ground truth ``gt`` [N x H x W] is
foreground where non-zero. A *subset* S of the K regions, taken as foreground, binarises the
prediction: P = pred in S. Per image (IEM, Savarese et al. 2021; ReDO):

    acc  = mean(P == G)
    IoU  = |P and G| / |P or G|
    DICE = 2 |P and G| / (|P| + |G|)     (the paper's "2 F^ cap F / |F^|" drops |F|: a typo)

and every score is averaged over images. Two region-assignment protocols:

- ``per_image``: IEM takes, per image and *separately for each metric*, the better of the
  prediction and its inverse. With K regions this is the best of the 2^K - 2 non-empty proper
  subsets (S and its complement both appear, so K = 2 is exactly IEM's flip). The empty and full
  subsets are left out: they are not a segmentation, and IEM's flip never produces them.
- ``fixed``: one subset S*, chosen on a fitting split (the training split's predictions against
  the training masks) by the highest mean IoU, then applied to every evaluated image; all three
  metrics use the same S*. IoU picks it because accuracy rewards "everything is background" on
  small objects.

Both are computed from two per-image histograms, the pixel count of each region and its
foreground count ([N x K] each), so every subset costs one [N x K] @ [K x S] product: thousands
of 128 px masks take well under a second.

Multi-class sets (CelebAMask-HQ's 3 classes; Table 3, 5 bottom). Regions are matched to classes
one-to-one with the Hungarian algorithm (scipy's ``linear_sum_assignment``) maximising the
number of matched pixels. With more regions than classes (K > C) each class may take up to
ceil(K / C) regions (the class columns are repeated), so no region is left unscored.

- ``fixed`` (dataset-level, the usual choice for unsupervised semantic segmentation): one
  matching from the confusion matrix summed over the fitting split (the evaluated split itself
  when no other is given); acc = matched pixels / all pixels of the split; mIoU = mean over
  classes of TP / (TP + FP + FN), also summed over the split, over the classes with anything to
  count (in the ground truth or the matched prediction: a subset of images, as a per-class
  cell of Table 7, is not credited for the classes it lacks).
- ``per_image``: one matching per image, acc and IoU per image, averaged over images; an image's
  mIoU averages the classes present in its ground truth or its matched prediction.

0 / 0 (empty prediction and empty ground truth) scores 1 everywhere: nothing to find, nothing
found. Ground-truth pixels equal to ``ignore_index`` (VOC's 255 = void boundary; the dataset
file's ``ignore_index`` attribute) are left out of every count, in both kinds of sets.

A single region (K = 1, the all-foreground baseline) is scored as it stands under both
protocols: with no proper subset, its only candidate foreground is the whole image.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from fdiff.errors import FdiffError
from fdiff.metrics.protocol import PROTOCOLS, SegProtocol


@dataclass(frozen=True)
class BinarySegResult:
    """Foreground/background scores in [0, 1], means over images."""

    acc: float
    iou: float
    dice: float
    protocol: SegProtocol
    foreground: tuple[int, ...] | None = None  # the fixed subset S*; None for per_image


@dataclass(frozen=True)
class MultiClassSegResult:
    """Pixel accuracy and mean IoU over classes after Hungarian matching."""

    acc: float
    miou: float
    protocol: SegProtocol
    class_iou: tuple[float, ...] = ()  # fixed protocol: IoU of each class
    matching: tuple[int, ...] | None = field(default=None)  # fixed: class of region k (-1: none)


# ---------------------------------------------------------------------------------------------
# Histograms


def _as_array(a) -> np.ndarray:
    """A numpy array of ``a`` (an array, or a CPU torch tensor: numpy's array protocol)."""
    return np.asarray(a)


def _check_shapes(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.ndim != 3 or pred.shape != gt.shape:
        raise FdiffError(
            f"prediction shape {tuple(pred.shape)} and ground-truth shape {tuple(gt.shape)}: "
            "expected two [N, H, W] arrays of the same shape"
        )


def confusion_per_image(
    pred: np.ndarray,
    gt: np.ndarray,
    num_regions: int,
    num_classes: int,
    ignore_index: int | None = None,
) -> np.ndarray:
    """Pixel counts of (region, class) pairs per image: [N x K x C] int64.

    ``pred`` [N x H x W] region ids in 0..K-1, ``gt`` [N x H x W] class ids in 0..C-1, or
    ``ignore_index`` for pixels left out of every count. One ``bincount`` over N*H*W pixels,
    processed in chunks of images to bound memory.
    """
    pred, gt = _as_array(pred), _as_array(gt)
    _check_shapes(pred, gt)
    n = pred.shape[0]
    scored = gt if ignore_index is None else gt[gt != ignore_index]
    kmax = int(pred.max()) if pred.size else 0
    cmax = int(scored.max()) if scored.size else 0
    if kmax >= num_regions:
        raise FdiffError(f"prediction holds region id {kmax}: expected ids < K = {num_regions}")
    if cmax >= num_classes:
        raise FdiffError(f"ground truth holds class id {cmax}: expected ids < C = {num_classes}")
    # Ignored pixels are counted in an extra class column C, dropped at the end.
    cols = num_classes + (ignore_index is not None)
    kc = num_regions * cols
    out = np.empty((n, kc), dtype=np.int64)
    px = pred[0].size if n else 1
    chunk = max(1, (1 << 22) // max(1, px))  # ~4M pixels per bincount
    for s in range(0, n, chunk):
        p = pred[s : s + chunk].reshape(-1, px).astype(np.int64)
        g = gt[s : s + chunk].reshape(-1, px).astype(np.int64)
        if ignore_index is not None:
            g = np.where(g == ignore_index, num_classes, g)
        m = p.shape[0]
        # One flat index per pixel: image offset, then region, then class.
        idx = np.arange(m, dtype=np.int64)[:, None] * kc + p * cols + g
        out[s : s + m] = np.bincount(idx.reshape(-1), minlength=m * kc).reshape(m, kc)
    return out.reshape(n, num_regions, cols)[:, :, :num_classes]


def region_subsets(num_regions: int) -> np.ndarray:
    """The 2^K - 2 non-empty proper subsets of K regions as a {0,1} matrix [S x K].

    K = 1 has no proper subset: its one candidate is the whole region set, [[1]] (a
    single-region map is scored as all foreground).
    """
    if num_regions == 1:
        return np.ones((1, 1), dtype=np.float64)
    rows = [s for s in itertools.product((0, 1), repeat=num_regions) if 0 < sum(s) < num_regions]
    return np.array(rows, dtype=np.float64)


def _binary_scores(conf: np.ndarray, subsets: np.ndarray) -> tuple[np.ndarray, ...]:
    """acc, IoU, DICE [N x S] of every subset as foreground, from confusion [N x K x 2]."""
    conf = conf.astype(np.float64)
    region_px = conf.sum(2)  # [N, K]
    region_fg = conf[:, :, 1]  # [N, K]
    total = region_px.sum(1, keepdims=True)  # [N, 1]
    g = region_fg.sum(1, keepdims=True)  # |G| [N, 1]
    p = region_px @ subsets.T  # |P| [N, S]
    tp = region_fg @ subsets.T  # |P and G| [N, S]
    acc = np.where(total > 0, (total - p - g + 2 * tp) / np.maximum(total, 1), 1.0)
    union = p + g - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), 1.0)
    dice = np.where(p + g > 0, 2 * tp / np.maximum(p + g, 1), 1.0)
    return acc, iou, dice


_BINARY_IGNORE = 2  # ignored pixels in the binarised ground truth


def _binary_gt(gt: np.ndarray, ignore_index: int | None) -> np.ndarray:
    """[N x H x W] uint8: 1 = foreground (non-zero), 0 = background, 2 = ignored."""
    gt = _as_array(gt)
    out = (gt > 0).astype(np.uint8)
    if ignore_index is not None:
        out[gt == ignore_index] = _BINARY_IGNORE
    return out


def _binary_confusion(pred, gt, num_regions: int, ignore_index: int | None) -> np.ndarray:
    """[N x K x 2] pixel counts of (region, background/foreground), ignored pixels left out."""
    ignore = None if ignore_index is None else _BINARY_IGNORE
    return confusion_per_image(pred, _binary_gt(gt, ignore_index), num_regions, 2, ignore)


def fit_foreground_subset(
    pred: np.ndarray,
    gt: np.ndarray,
    num_regions: int,
    ignore_index: int | None = None,
) -> tuple[int, ...]:
    """The subset S* of regions with the highest mean IoU as foreground (``fixed`` protocol)."""
    subsets = region_subsets(num_regions)
    conf = _binary_confusion(pred, gt, num_regions, ignore_index)
    _, iou, _ = _binary_scores(conf, subsets)
    best = int(iou.mean(0).argmax())
    return tuple(int(k) for k in np.flatnonzero(subsets[best]))


def binary_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    num_regions: int,
    protocol: SegProtocol,
    foreground: tuple[int, ...] | None = None,
    ignore_index: int | None = None,
) -> BinarySegResult:
    """Acc, IoU, DICE averaged over images (IEM), under ``protocol.assignment``.

    ``pred`` [N x H x W] region ids, ``gt`` [N x H x W] (foreground = non-zero, pixels equal to
    ``ignore_index`` left out). ``per_image`` takes the best subset per image and per metric;
    ``fixed`` needs ``foreground`` (S*, from :func:`fit_foreground_subset`). K = 1 scores the
    single region as foreground under both.
    """
    if num_regions < 1:
        raise FdiffError(f"num_regions = {num_regions}: expected K >= 1 regions")
    conf = _binary_confusion(pred, gt, num_regions, ignore_index)
    if protocol.assignment == "per_image":
        acc, iou, dice = _binary_scores(conf, region_subsets(num_regions))
        acc, iou, dice = acc.max(1), iou.max(1), dice.max(1)
        foreground = None
    elif protocol.assignment == "fixed":
        if not foreground or any(not 0 <= k < num_regions for k in foreground):
            raise FdiffError(
                f"fixed protocol: foreground regions {foreground}: expected a non-empty subset of "
                f"0..{num_regions - 1} (fit it with fit_foreground_subset on the training split)"
            )
        s = np.zeros((1, num_regions), dtype=np.float64)
        s[0, list(foreground)] = 1
        acc, iou, dice = (m[:, 0] for m in _binary_scores(conf, s))
        foreground = tuple(sorted(foreground))
    else:
        raise FdiffError(f"protocol {protocol.assignment!r}: expected one of {PROTOCOLS}")
    return BinarySegResult(
        acc=float(acc.mean()),
        iou=float(iou.mean()),
        dice=float(dice.mean()),
        protocol=protocol,
        foreground=foreground,
    )


# ---------------------------------------------------------------------------------------------
# Multi-class


def hungarian_match(confusion: np.ndarray) -> np.ndarray:
    """Class of each region [K], maximising the matched pixels of ``confusion`` [K x C].

    One-to-one (scipy's ``linear_sum_assignment``) when K <= C. When K > C (K = 3 regions on a
    binary set) every class column is repeated ceil(K / C) times, so each region gets a class
    and each class at most ceil(K / C) regions: with C = 2 this is the best foreground subset.
    """
    c = np.asarray(confusion, dtype=np.float64)
    k, n_cls = c.shape
    reps = -(-k // n_cls)
    rows, cols = linear_sum_assignment(np.tile(c, (1, reps)), maximize=True)
    match = np.full(k, -1, dtype=np.int64)
    match[rows] = cols % n_cls
    return match


def _matched_counts(conf: np.ndarray, match: np.ndarray) -> tuple[np.ndarray, ...]:
    """TP, predicted and true pixel counts per class [.. x C] for a matching region -> class."""
    true = conf.sum(-2)  # [.., C]
    tp = np.zeros_like(true)
    pred = np.zeros_like(true)
    for k, c in enumerate(match):
        if c >= 0:
            tp[..., c] += conf[..., k, c]
            pred[..., c] += conf[..., k, :].sum(-1)
    return tp, pred, true


def multiclass_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    num_regions: int,
    num_classes: int,
    protocol: SegProtocol,
    fit: tuple[np.ndarray, np.ndarray] | None = None,
    ignore_index: int | None = None,
) -> MultiClassSegResult:
    """Pixel accuracy and mIoU after Hungarian matching of K regions to C classes.

    ``fixed``: one matching from the confusion summed over ``fit`` = (pred, gt) of the fitting
    split, or over the evaluated images when ``fit`` is None; scores summed over the split.
    ``per_image``: one matching and one score per image, averaged over images. Ground-truth
    pixels equal to ``ignore_index`` are left out.
    """
    conf = confusion_per_image(pred, gt, num_regions, num_classes, ignore_index)
    fit_conf = None
    if fit is not None and protocol.assignment == "fixed":
        fit_conf = confusion_per_image(*fit, num_regions, num_classes, ignore_index)
    return multiclass_from_confusion(conf, protocol, fit_conf)


def multiclass_from_confusion(
    conf: np.ndarray, protocol: SegProtocol, fit_conf: np.ndarray | None = None
) -> MultiClassSegResult:
    """:func:`multiclass_metrics` from per-image confusions ``conf`` [N x K x C] (and the
    fitting split's ``fit_conf`` [M x K x C] for ``fixed``; None: ``conf`` itself)."""
    if protocol.assignment == "fixed":
        fit_conf = conf if fit_conf is None else fit_conf
        match = hungarian_match(np.asarray(fit_conf).sum(0))
        tp, npred, ntrue = _matched_counts(conf.sum(0), match)
        union = npred + ntrue - tp
        class_iou = np.where(union > 0, tp / np.maximum(union, 1), 1.0)
        present = union > 0
        return MultiClassSegResult(
            acc=float(tp.sum() / max(conf.sum(), 1)),
            miou=float(class_iou[present].mean()) if present.any() else 1.0,
            protocol=protocol,
            class_iou=tuple(float(v) for v in class_iou),
            matching=tuple(int(c) for c in match),
        )
    if protocol.assignment != "per_image":
        raise FdiffError(f"protocol {protocol.assignment!r}: expected one of {PROTOCOLS}")
    accs, mious = np.empty(len(conf)), np.empty(len(conf))
    for i, ci in enumerate(conf):  # K x C assignment problems: microseconds each
        tp, npred, ntrue = _matched_counts(ci, hungarian_match(ci))
        union = npred + ntrue - tp
        present = union > 0
        accs[i] = tp.sum() / ci.sum() if ci.sum() else 1.0  # every pixel ignored: 0 / 0
        mious[i] = (tp[present] / union[present]).mean() if present.any() else 1.0
    return MultiClassSegResult(acc=float(accs.mean()), miou=float(mious.mean()), protocol=protocol)
