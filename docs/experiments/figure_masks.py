"""Qualitative figure: test images, ground truth, the model's K regions, K-means on RGB.

    python docs/experiments/figure_masks.py --model M.pt --difficulty easy --resolution 16 \\
        --t 30 --n 12 --out docs/experiments/masks.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from fdiff.data.loader import to_float
from fdiff.diffusion.samplers import segment
from fdiff.inference.visual import colorize, grid, save_png
from fdiff.training.checkpoint import load_model

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from baselines import kmeans_maps  # noqa: E402
from levels import generate  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--difficulty", default="easy")
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--t", type=int, default=30)
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    img, gt = generate(a.difficulty, a.resolution, "test", a.n)
    model, diffusion = load_model(a.model)
    k = model.num_regions
    m = segment(model, diffusion, to_float(img), t=a.t, generator=torch.Generator().manual_seed(0))
    reg = m.argmax(1).numpy()
    rows = [img, colorize(gt * 4), colorize(reg), colorize(kmeans_maps(img, k))]
    up = [np.repeat(np.repeat(r, a.scale, 1), a.scale, 2) for r in rows]
    save_png(grid(up), a.out)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
