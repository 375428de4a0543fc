"""Baselines for the emergence experiments, on the same synthetic test sets.

- ``all_foreground``: every pixel foreground (K = 2 regions with region 1 empty, so the
  per-image protocol may not flip it: scored as the plain prediction);
- ``centred_disc``: a disc at the image centre, its radius fitted on the training images (the
  radius with the best mean IoU), scored under both protocols as a K = 2 map;
- ``modal_layout``: no image input at all, the best fixed per-pixel map: the training masks'
  per-pixel foreground frequency thresholded at 0.5 (a spatial prior);
- ``kmeans_rgb_K``: K-means (scipy.cluster.vq.kmeans2, k-means++ init, fixed seed) on the pixel
  colours of each image separately; clusters are ordered by size (0 = largest) so that the
  ``fixed`` protocol can use one subset for all images.

Protocols as in run_emergence.py: ``per_image`` (best region subset per image) and ``fixed``
(one subset chosen on the training images).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from scipy.cluster.vq import kmeans2

from fdiff.metrics.segmentation import SegProtocol, binary_metrics, fit_foreground_subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from levels import generate  # noqa: E402

FIELDS = [
    "difficulty",
    "resolution",
    "method",
    "K",
    "iou_per_image",
    "iou_fixed",
    "acc_per_image",
    "acc_fixed",
    "fixed_subset",
]


def kmeans_maps(images: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Per-image K-means on RGB: region ids [N, H, W], ordered by cluster size (0 largest)."""
    n, h, w, _ = images.shape
    out = np.zeros((n, h, w), np.uint8)
    rng = np.random.default_rng(seed)
    for i in range(n):
        px = images[i].reshape(-1, 3).astype(np.float64) / 255.0
        _, lab = kmeans2(px, k, minit="++", seed=rng, iter=20)
        counts = np.bincount(lab, minlength=k)
        rank = np.empty(k, int)
        rank[np.argsort(-counts, kind="stable")] = np.arange(k)
        out[i] = rank[lab].reshape(h, w)
    return out


def disc(res: int, radius: float) -> np.ndarray:
    c = (np.arange(res) + 0.5) / res * 2 - 1
    y, x = np.meshgrid(c, c, indexing="ij")
    return (np.hypot(x, y) <= radius).astype(np.uint8)


def both(pred_te, gt_te, pred_fit, gt_fit, k):
    pi = binary_metrics(
        pred_te,
        gt_te,
        k,
        SegProtocol(split="test", assignment="per_image", n=len(gt_te), num_regions=k),
    )
    fg = fit_foreground_subset(pred_fit, gt_fit, k)
    fx = binary_metrics(
        pred_te,
        gt_te,
        k,
        SegProtocol(
            split="test", assignment="fixed", n=len(gt_te), num_regions=k, fit_split="train"
        ),
        fg,
    )
    return dict(
        iou_per_image=pi.iou,
        iou_fixed=fx.iou,
        acc_per_image=pi.acc,
        acc_fixed=fx.acc,
        fixed_subset="+".join(map(str, fg)),
    )


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--difficulty", nargs="+", default=["easy", "medium", "hard"])
    p.add_argument("--resolution", nargs="+", type=int, default=[16, 32])
    p.add_argument("--num-test", type=int, default=500)
    p.add_argument("--fit-n", type=int, default=500)
    p.add_argument("--csv", default="docs/experiments/results/baselines.csv")
    a = p.parse_args(argv)
    rows = []
    for diff in a.difficulty:
        for res in a.resolution:
            xf, mf = generate(diff, res, "train", a.fit_n)
            xt, mt = generate(diff, res, "test", a.num_test)
            full = lambda n, r=res: np.ones((n, r, r), np.uint8)  # noqa: E731
            pi = binary_metrics(
                full(len(mt)),
                mt,
                2,
                SegProtocol(split="test", assignment="fixed", n=len(mt), num_regions=2),
                (1,),
            )
            rows.append(
                dict(
                    difficulty=diff,
                    resolution=res,
                    method="all_foreground",
                    K=1,
                    iou_per_image=pi.iou,
                    iou_fixed=pi.iou,
                    acc_per_image=pi.acc,
                    acc_fixed=pi.acc,
                    fixed_subset="all",
                )
            )
            best = max(
                np.linspace(0.1, 1.0, 19),
                key=lambda r: (
                    binary_metrics(
                        np.broadcast_to(disc(res, r), mf.shape),
                        mf,
                        2,
                        SegProtocol(split="train", assignment="fixed", n=len(mf), num_regions=2),
                        (1,),
                    ).iou
                ),
            )
            d = disc(res, best)
            rows.append(
                dict(
                    difficulty=diff,
                    resolution=res,
                    method=f"centred_disc_r{best:.2f}",
                    K=2,
                    **both(np.broadcast_to(d, mt.shape), mt, np.broadcast_to(d, mf.shape), mf, 2),
                )
            )
            layout = (mf.mean(0) >= 0.5).astype(np.uint8)
            if layout.any():
                rows.append(
                    dict(
                        difficulty=diff,
                        resolution=res,
                        method="modal_layout",
                        K=2,
                        **both(
                            np.broadcast_to(layout, mt.shape),
                            mt,
                            np.broadcast_to(layout, mf.shape),
                            mf,
                            2,
                        ),
                    )
                )
            for k in (2, 3):
                rows.append(
                    dict(
                        difficulty=diff,
                        resolution=res,
                        method=f"kmeans_rgb_{k}",
                        K=k,
                        **both(kmeans_maps(xt, k), mt, kmeans_maps(xf, k, 1), mf, k),
                    )
                )
            for r in rows[-5:]:
                if r["difficulty"] == diff and r["resolution"] == res:
                    print(
                        f"{diff:6s} {res:3d} {r['method']:20s} IoU per_image "
                        f"{r['iou_per_image']:.3f} fixed {r['iou_fixed']:.3f}",
                        flush=True,
                    )
    Path(a.csv).parent.mkdir(parents=True, exist_ok=True)
    new = not Path(a.csv).exists()
    with open(a.csv, "a", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        if new:
            w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
