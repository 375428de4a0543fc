"""Extra synthetic-shapes levels for the emergence experiments (candidates for fdiff.data.shapes).

The built-in levels draw object and background from the same distribution of colours and
textures, so nothing but shape and size tells the object from the background *statistically*:
a denoiser has no reason to treat them differently. ``textured_fg`` gives them consistently
different statistics, as on the paper's datasets (a flower or bird against foliage, sky, water):
objects carry a periodic texture (stripes or checks), backgrounds are smooth (flat or a linear
gradient). Colours still come from one shared distribution; mean colours are at least 0.25 apart
(as in ``medium``).
"""

from __future__ import annotations

import numpy as np

from fdiff.data.shapes import CHUNK, LEVELS, Level, generate_chunk

EXTRA_LEVELS: dict[str, Level] = {
    "textured_fg": Level(
        1, ("stripes", "checks"), ("flat", "gradient"), False, 0.25, 0.02, (0.2, 0.35)
    ),
    "textured_fg2": Level(
        2, ("stripes", "checks"), ("flat", "gradient"), False, 0.25, 0.02, (0.15, 0.32)
    ),
}


def level(name: str) -> Level:
    return EXTRA_LEVELS[name] if name in EXTRA_LEVELS else LEVELS[name]


def generate(name: str, resolution: int, split: str, n: int, seed: int = 0):
    """Like fdiff.data.shapes.generate_split, for built-in and extra levels: images, masks."""
    lv = level(name)
    split_id = ("train", "val", "test").index(split)
    images = np.empty((n, resolution, resolution, 3), np.uint8)
    masks = np.empty((n, resolution, resolution), np.uint8)
    for c, start in enumerate(range(0, n, CHUNK)):
        m = min(CHUNK, n - start)
        rng = np.random.default_rng([seed, split_id, c])
        images[start : start + m], masks[start : start + m] = generate_chunk(lv, resolution, m, rng)
    return images, masks
