"""Synthetic shapes: seeded procedural RGB images with exact foreground masks.

The embedded default dataset: a laptop or CI run trains and segments on it without any
download. Every image is a background layer plus one or more object layers (ellipses, regular
polygons, Fourier blobs). A layer's colour field is ``c1 * (1 - f) + c2 * f`` where ``c1`` and
``c2`` come from one distribution shared by objects and background (uniform in the RGB cube),
and ``f`` [H, W] in [0, 1] is a texture: flat, linear gradient, stripes, checks or smooth value
noise. Objects are drawn without antialiasing, so the mask is exact: 1 wherever an object pixel
was painted, 0 elsewhere. Everything is vectorised over a chunk of images with numpy.

Difficulty levels (:data:`LEVELS`), from what per-image colour clustering can solve to what it
cannot:

- ``easy``: one flat-coloured object on a flat background; the two colours are at least 0.5
  apart in RGB ([0, 1] units), no pixel noise. K-means on pixel colour segments it almost
  perfectly; a sanity check for the pipeline.
- ``medium``: one or two objects, flat or striped, on a linear-gradient background; mean
  colours at least 0.25 apart; Gaussian pixel noise sigma 0.02 (the setting of the emergence
  prototype, /work/shared/reference/emergence-prototype.md, with up to two objects).
- ``hard``: one to three objects textured with stripes, checks or noise on a background
  textured with a different kind of texture; no colour-contrast constraint; pixel noise sigma
  0.04. Object and background colours are exchangeable, so colour alone does not separate
  them: the boundary is defined by texture and shape.
- ``textured_fg``: one object with a periodic texture (stripes or checks) on a smooth
  background (flat or a linear gradient); colours from the one shared distribution, mean
  colours at least 0.25 apart; pixel noise sigma 0.02. Object and background differ in their
  statistics, as on the paper's datasets; K-means on colour (K = 3) reaches IoU 0.86 per image
  but only 0.66 with one assignment for all images (docs/experiments.md).

Same config (seed included) gives the same bytes on the same platform and numpy version: each
split and each chunk of :data:`CHUNK` images draws from its own ``default_rng([seed, split,
chunk])``, so the test split does not change when ``num_train`` does.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from fdiff.data.hdf5 import DatasetAttrs, open_writer
from fdiff.errors import FdiffError

log = logging.getLogger(__name__)

CHUNK = 256  # images generated per vectorised call (and per RNG stream)
TEXTURES = ("flat", "gradient", "stripes", "checks", "noise")
SHAPES = ("ellipse", "polygon", "blob")


@dataclass(frozen=True)
class Level:
    """What one difficulty level draws from.

    ``object_textures`` / ``background_textures``: allowed textures (names from TEXTURES);
    ``distinct_texture``: an object never gets the background's texture kind;
    ``min_contrast``: minimum RGB distance between object and background mean colours
    (enforced by redrawing the object's colours); ``noise``: per-pixel Gaussian sigma;
    ``radius``: object circumradius range as a fraction of the image size.
    """

    max_objects: int
    object_textures: tuple[str, ...]
    background_textures: tuple[str, ...]
    distinct_texture: bool
    min_contrast: float
    noise: float
    radius: tuple[float, float]


LEVELS: dict[str, Level] = {
    "easy": Level(1, ("flat",), ("flat",), False, 0.5, 0.0, (0.2, 0.35)),
    "medium": Level(2, ("flat", "stripes"), ("gradient",), False, 0.25, 0.02, (0.15, 0.32)),
    "hard": Level(
        3,
        ("stripes", "checks", "noise"),
        ("stripes", "checks", "noise"),
        True,
        0.0,
        0.04,
        (0.12, 0.3),
    ),
    # Object and background differ in texture statistics, as a flower or a bird differs from
    # foliage or sky: periodic texture on the object, smooth background. The demo's level: the
    # one where masks emerge within minutes of CPU training (docs/experiments.md).
    "textured_fg": Level(
        1, ("stripes", "checks"), ("flat", "gradient"), False, 0.25, 0.02, (0.2, 0.35)
    ),  # fmt: skip
}


@dataclass(frozen=True)
class ShapesConfig:
    """The synthetic shapes dataset: resolution, split sizes, seed and difficulty."""

    resolution: int = 32
    num_train: int = 5000
    num_val: int = 500
    num_test: int = 500
    seed: int = 0
    difficulty: str = "medium"

    def __post_init__(self):
        if self.difficulty not in LEVELS:
            raise FdiffError(f"difficulty {self.difficulty!r} is not one of {', '.join(LEVELS)}")
        if self.resolution < 8:
            raise FdiffError(f"resolution {self.resolution} is too small (expected >= 8)")
        for name in ("num_train", "num_val", "num_test"):
            if getattr(self, name) < 0:
                raise FdiffError(f"{name} = {getattr(self, name)} must be >= 0")


def _interp(size: int, g: int) -> np.ndarray:
    """Bilinear interpolation matrix [size, g] from g grid cells (centres) to size pixels."""
    pos = np.clip((np.arange(size) + 0.5) / size * g - 0.5, 0, g - 1)
    lo = np.minimum(np.floor(pos).astype(int), g - 2)
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((size, g), np.float32)
    m[np.arange(size), lo] = 1 - frac
    m[np.arange(size), lo + 1] = frac
    return m


def _texture(
    kind: str, rng: np.random.Generator, n: int, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Texture field f [n, H, W] in [0, 1] for ``n`` images; x, y are [H, W] in [-1, 1]."""
    h, w = x.shape
    if kind == "flat":
        return np.zeros((n, h, w), np.float32)
    if kind == "noise":
        # Smooth value noise: a coarse random grid, bilinearly upsampled by two small
        # interpolation matrices (one matmul each way), rescaled to [0, 1].
        g = 5
        grid = rng.random((n, g, g), dtype=np.float32)
        f = np.matmul(np.matmul(_interp(h, g), grid), _interp(w, g).T)
        lo = f.min(axis=(1, 2), keepdims=True)
        hi = f.max(axis=(1, 2), keepdims=True)
        return (f - lo) / np.maximum(hi - lo, 1e-6)
    angle = rng.uniform(0, np.pi, (n, 1, 1)).astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    u = x * c + y * s
    if kind == "gradient":
        return np.clip((u + 1.0) / 2.0, 0.0, 1.0)
    # Periodic textures: 1.5 to 4 cycles across the image (>= 4 px per cycle at 32 px).
    freq = rng.uniform(1.5, 4.0, (n, 1, 1)).astype(np.float32) * np.pi
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    if kind == "stripes":
        return (np.sin(freq * u + phase) > 0).astype(np.float32)
    if kind == "checks":
        v = -x * s + y * c
        phase2 = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
        return (np.sin(freq * u + phase) * np.sin(freq * v + phase2) > 0).astype(np.float32)
    raise ValueError(kind)


def _layer(
    rng: np.random.Generator, kinds: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Colour fields [n, H, W, 3] and their mean colours [n, 3] for per-image texture kinds."""
    n = len(kinds)
    c1 = rng.random((n, 3), dtype=np.float32)
    c2 = rng.random((n, 3), dtype=np.float32)
    f = np.zeros((n, *x.shape), np.float32)
    for k, kind in enumerate(TEXTURES):
        sel = kinds == k
        if sel.any():
            f[sel] = _texture(kind, rng, int(sel.sum()), x, y)
    img = c1[:, None, None, :] + (c2 - c1)[:, None, None, :] * f[..., None]
    return img, c1 + (c2 - c1) * f.mean(axis=(1, 2))[:, None]


def _shape_mask(
    rng: np.random.Generator, n: int, x: np.ndarray, y: np.ndarray, radius: tuple[float, float]
) -> np.ndarray:
    """Boolean masks [n, H, W] of one random star-shaped object per image.

    In object coordinates (rotated, minor axis scaled by 1/aspect) with polar (rho, phi), a
    pixel is inside when rho <= r(phi): r constant (ellipse), the regular-polygon edge
    r cos(pi/m) / cos((phi mod 2pi/m) - pi/m) (m = 3..6 sides), or a Fourier blob
    r (1 + sum_j a_j cos(j phi + p_j)), j = 2..4.
    """
    r = rng.uniform(*radius, (n, 1, 1)).astype(np.float32) * 2.0  # image spans [-1, 1]
    cx = rng.uniform(-0.55, 0.55, (n, 1, 1)).astype(np.float32)
    cy = rng.uniform(-0.55, 0.55, (n, 1, 1)).astype(np.float32)
    theta = rng.uniform(0, np.pi, (n, 1, 1)).astype(np.float32)
    aspect = rng.uniform(0.55, 1.0, (n, 1, 1)).astype(np.float32)
    kind = rng.integers(0, len(SHAPES), n)
    sides = rng.integers(3, 7, (n, 1, 1)).astype(np.float32)
    amp = rng.uniform(0.0, 0.18, (n, 3, 1, 1)).astype(np.float32)
    ph = rng.uniform(0, 2 * np.pi, (n, 3, 1, 1)).astype(np.float32)

    dx, dy = x - cx, y - cy
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = (-dx * np.sin(theta) + dy * np.cos(theta)) / aspect
    rho = np.hypot(u, v)
    phi = np.arctan2(v, u) + np.pi  # [0, 2pi]
    edge = np.broadcast_to(r, rho.shape).copy()
    poly = kind == 1
    if poly.any():
        m = sides[poly]
        sector = 2 * np.pi / m
        edge[poly] = r[poly] * np.cos(np.pi / m) / np.cos(np.mod(phi[poly], sector) - sector / 2)
    blob = kind == 2
    if blob.any():
        j = np.arange(2, 5, dtype=np.float32)[None, :, None, None]
        wave = (amp[blob] * np.cos(j * phi[blob][:, None] + ph[blob])).sum(axis=1)
        edge[blob] = r[blob] * (1.0 + wave)
    return rho <= edge


def generate_chunk(
    level: Level, resolution: int, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images uint8 [n, R, R, 3] and exact masks uint8 [n, R, R] (1 = object)."""
    t = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution * 2.0 - 1.0
    y, x = np.meshgrid(t, t, indexing="ij")
    bg_allowed = np.array([TEXTURES.index(k) for k in level.background_textures])
    obj_allowed = np.array([TEXTURES.index(k) for k in level.object_textures])

    bg_kind = rng.choice(bg_allowed, n)
    img, bg_mean = _layer(rng, bg_kind, x, y)
    mask = np.zeros((n, resolution, resolution), bool)
    n_obj = rng.integers(1, level.max_objects + 1, n)
    for k in range(level.max_objects):
        act = np.flatnonzero(k < n_obj)  # images that have a k-th object
        m = len(act)
        kind = rng.choice(obj_allowed, m)
        if level.distinct_texture:
            # Redraw until the object's texture kind differs from the background's.
            for _ in range(16):
                same = kind == bg_kind[act]
                if not same.any():
                    break
                kind[same] = rng.choice(obj_allowed, int(same.sum()))
        obj, obj_mean = _layer(rng, kind, x, y)
        if level.min_contrast > 0:
            # Redraw the colours of objects too close to the background's mean colour: the
            # marginal colour distribution stays (nearly) that of the background.
            for _ in range(32):
                low = np.linalg.norm(obj_mean - bg_mean[act], axis=1) < level.min_contrast
                if not low.any():
                    break
                obj[low], obj_mean[low] = _layer(rng, kind[low], x, y)
        inside = _shape_mask(rng, m, x, y, level.radius)
        img[act] = np.where(inside[..., None], obj, img[act])
        mask[act] |= inside
    if level.noise > 0:
        img += level.noise * rng.standard_normal(img.shape, dtype=np.float32)
    images = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return images, mask.astype(np.uint8)


def generate_split(cfg: ShapesConfig, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """All images [n, R, R, 3] and masks [n, R, R] of one split (deterministic in cfg.seed)."""
    level = LEVELS[cfg.difficulty]
    split_id = ("train", "val", "test").index(split)
    images = np.empty((n, cfg.resolution, cfg.resolution, 3), np.uint8)
    masks = np.empty((n, cfg.resolution, cfg.resolution), np.uint8)
    for c, start in enumerate(range(0, n, CHUNK)):
        m = min(CHUNK, n - start)
        rng = np.random.default_rng([cfg.seed, split_id, c])
        images[start : start + m], masks[start : start + m] = generate_chunk(
            level, cfg.resolution, m, rng
        )
    return images, masks


def write_shapes(cfg: ShapesConfig, out: str | os.PathLike) -> None:
    """Generate every split of ``cfg`` and write them atomically to the HDF5 file ``out``."""
    t0 = time.perf_counter()
    attrs = DatasetAttrs(
        dataset="shapes",
        resolution=cfg.resolution,
        num_classes=2,
        preprocessing=f"procedural, difficulty={cfg.difficulty}, no resizing",
        sources={},
        extra={"config": asdict(cfg), "level": asdict(LEVELS[cfg.difficulty])},
    )
    total = 0
    with open_writer(out, attrs) as w:
        for split, n in (("train", cfg.num_train), ("val", cfg.num_val), ("test", cfg.num_test)):
            images, masks = generate_split(cfg, split, n)
            w.create_split(split, n, masks=True)
            w.write(split, 0, images, masks)
            total += n
    dt = time.perf_counter() - t0
    log.info(
        "shapes: %d images at %d px (%s) in %.1f s (%.0f images/s) -> %s",
        total,
        cfg.resolution,
        cfg.difficulty,
        dt,
        total / max(dt, 1e-9),
        out,
    )
