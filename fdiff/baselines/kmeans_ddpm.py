"""DatasetDDPM-unsup (Tables 3, 4 and 5 bottom): K-means on a trained standard DDPM's features.

DatasetDDPM (Baranchuk et al. 2022) describes each pixel by the activations of several decoder
blocks of a trained DDPM at several noise levels, upsampled to the image size and concatenated.
The paper's unsupervised variant clusters those pixel features with K-means (K = 3) instead of
training a classifier on labels.

Per batch of images x0 [B x 3 x H x W]: for each t in ``ts``, x_t = q_sample(x0, t) (Eq. 1, one
seeded noise draw), ``model.decoder_features(x_t, t)`` -> the chosen blocks [B x C_b x h_b x w_b],
each L2-normalised over channels per pixel (so that wide blocks do not dominate the distances;
our choice, the paper gives none), bilinearly upsampled to H x W and concatenated:
[B x D x H x W], D = len(ts) * sum_b C_b.

Memory stays bounded: features exist for one batch at a time (held at once for a whole split,
they would take D * H * W * 4 bytes per image, hundreds of GB for a dataset). K-means is
mini-batch K-means (Sculley 2010) in torch: k-means++ on the first batch's pixels, then every
batch moves each centre towards its assigned pixels with step 1 / (pixels seen by it so far).
The fitted centres then label every pixel of the evaluated images by its nearest centre.

Reference settings (256 px model, T = 1000): steps 50, 150, 250; decoder blocks 5, 6, 7, 8, 12
of 18. Scaled to our U-Nets: the same fractions of T, and blocks at the same relative depth of
the decoder (block b of 18 -> round(b / 17 * (n - 1)) of n, duplicates dropped).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from fdiff.data.loader import H5ImageDataset, to_float
from fdiff.errors import FdiffError
from fdiff.progress import progress as pbar

log = logging.getLogger(__name__)

REF_TIMESTEPS, REF_TS = 1000, (50, 150, 250)
REF_NUM_BLOCKS, REF_BLOCKS = 18, (5, 6, 7, 8, 12)


def default_ts(num_timesteps: int) -> tuple[int, ...]:
    """The reference noise levels (50, 150, 250 of T = 1000) at the same fractions of T."""
    return tuple(max(1, round(t * num_timesteps / REF_TIMESTEPS)) for t in REF_TS)


def default_blocks(num_blocks: int) -> tuple[int, ...]:
    """The reference blocks (5, 6, 7, 8, 12 of 18) at the same relative decoder depth."""
    picked = (round(b / (REF_NUM_BLOCKS - 1) * (num_blocks - 1)) for b in REF_BLOCKS)
    return tuple(sorted(set(picked)))


@dataclass(frozen=True)
class KMeansDDPMConfig:
    """DatasetDDPM-unsup settings; ``ts`` / ``blocks`` empty: scaled from the reference."""

    ts: tuple[int, ...] = ()
    blocks: tuple[int, ...] = ()
    num_clusters: int = 3  # K
    fit_limit: int = 5000  # training images used to fit (0: all)
    pixels_per_image: int = 256  # random pixels per image fed to K-means (0: all)
    epochs: int = 1  # passes over the fitting images
    batch_size: int = 32
    seed: int = 0
    device: str = "cpu"


class MiniBatchKMeans:
    """Streaming K-means on pixel features [P x D] (Sculley 2010), float32 on any device."""

    def __init__(self, num_clusters: int, seed: int = 0):
        self.k = num_clusters
        self.g = torch.Generator().manual_seed(seed)
        self.centers: torch.Tensor | None = None  # [K x D]
        self.counts: torch.Tensor | None = None  # [K]

    def _init(self, x: torch.Tensor) -> None:
        """k-means++ seeding on the first batch."""
        if len(x) < self.k:
            raise FdiffError(f"K-means: {len(x)} pixels in the first batch, need >= K = {self.k}")
        idx = [int(torch.randint(len(x), (1,), generator=self.g))]
        d2 = torch.cdist(x, x[idx]).square().min(1).values
        for _ in range(1, self.k):
            p = d2.cpu() / d2.sum().cpu() if float(d2.sum()) > 0 else None
            nxt = (
                int(torch.multinomial(p, 1, generator=self.g))
                if p is not None
                else int(torch.randint(len(x), (1,), generator=self.g))
            )
            idx.append(nxt)
            d2 = torch.minimum(d2, torch.cdist(x, x[nxt : nxt + 1]).square()[:, 0])
        self.centers = x[idx].clone()
        self.counts = torch.zeros(self.k, device=x.device)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest centre [P] of each feature row [P x D]."""
        if self.centers is None:
            raise RuntimeError("K-means used before partial_fit")
        return torch.cdist(x, self.centers).argmin(1)

    def partial_fit(self, x: torch.Tensor) -> None:
        """One mini-batch update with pixel features [P x D]."""
        x = x.float()
        if self.centers is None:
            self._init(x)
        assert self.counts is not None and self.centers is not None
        labels = self.predict(x)
        n = torch.bincount(labels, minlength=self.k).to(x.dtype)
        sums = torch.zeros_like(self.centers).index_add_(0, labels, x)
        self.counts += n
        # Per-centre step n_k / counts_k: each centre is the running mean of its pixels.
        hit = n > 0
        eta = torch.where(hit, n / self.counts.clamp_min(1), torch.zeros_like(n))
        mean = sums / n.clamp_min(1).unsqueeze(1)
        self.centers = torch.where(
            hit.unsqueeze(1), self.centers + eta.unsqueeze(1) * (mean - self.centers), self.centers
        )


class DDPMPixelFeatures:
    """Per-pixel DatasetDDPM features of images x0 [B x 3 x H x W] in [-1, 1]: [B x D x H x W]."""

    def __init__(self, model, diffusion, ts: tuple[int, ...], blocks: tuple[int, ...], seed=0):
        if not hasattr(model, "decoder_features"):
            raise FdiffError("DatasetDDPM features need a standard DDPM U-Net (arch 'ddpm')")
        self.model, self.diffusion = model, diffusion
        self.ts, self.blocks = ts, blocks
        self.seed = seed
        for t in ts:
            if not 1 <= t <= diffusion.num_timesteps:
                raise FdiffError(f"feature timestep t = {t}: expected 1..{diffusion.num_timesteps}")

    @torch.no_grad()
    def __call__(self, x0: torch.Tensor, y: torch.Tensor | None, batch_id: int) -> torch.Tensor:
        size = x0.shape[-2:]
        out = []
        for j, t in enumerate(self.ts):
            # Seeded per (batch, t): the same image gets the same noise on every pass.
            g = torch.Generator(x0.device).manual_seed(self.seed * 1_000_003 + batch_id * 101 + j)
            noise = torch.randn(x0.shape, generator=g, device=x0.device, dtype=x0.dtype)
            idx = torch.full((x0.shape[0],), t - 1, device=x0.device, dtype=torch.long)
            feats = self.model.decoder_features(self.diffusion.q_sample(x0, idx, noise), idx, y)
            if max(self.blocks) >= len(feats):
                raise FdiffError(
                    f"decoder block {max(self.blocks)} requested; the model has {len(feats)}"
                )
            for b in self.blocks:
                f = F.normalize(feats[b].float(), dim=1)
                out.append(F.interpolate(f, size=size, mode="bilinear", align_corners=False))
        return torch.cat(out, 1)


def _pixels(feats: torch.Tensor, per_image: int, g: torch.Generator | None) -> torch.Tensor:
    """[B x D x H x W] -> [P x D]: all pixels, or ``per_image`` random ones of each image."""
    b, d = feats.shape[:2]
    flat = feats.flatten(2).transpose(1, 2)  # [B, HW, D]
    if per_image <= 0 or per_image >= flat.shape[1]:
        return flat.reshape(-1, d)
    idx = torch.stack([torch.randperm(flat.shape[1], generator=g)[:per_image] for _ in range(b)])
    return torch.gather(flat, 1, idx.to(flat.device).unsqueeze(-1).expand(-1, -1, d)).reshape(-1, d)


# ---------------------------------------------------------------------------------------------
# Image sources: batches of (x0 [B x 3 x H x W] in [-1, 1], y [B] or None)


def split_batches(
    data: str | Path, split: str, batch_size: int, limit: int = 0, labels: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    ds = H5ImageDataset(data, split)
    n = len(ds) if limit <= 0 else min(limit, len(ds))
    for s in range(0, n, batch_size):
        x, y = ds.get_batch(range(s, min(s + batch_size, n)))
        if labels and (y < 0).any():
            raise FdiffError(f"{data}: /{split}/labels missing; the DDPM is class-conditional")
        yield x, (y if labels else None)


def samples_batches(
    samples: str | Path, batch_size: int, labels: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    with h5py.File(samples, "r") as f:
        if "images" not in f:
            raise FdiffError(f"{samples}: no 'images' (expected a samples file)")
        if labels and "labels" not in f:
            raise FdiffError(f"{samples}: no 'labels'; the DDPM is class-conditional")
        n = f["images"].shape[0]
        for s in range(0, n, batch_size):
            x = to_float(f["images"][s : s + batch_size])
            y = torch.from_numpy(f["labels"][s : s + batch_size]) if labels else None
            yield x, y


def _num_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


# ---------------------------------------------------------------------------------------------


@dataclass
class KMeansDDPM:
    """A fitted baseline: the feature extractor and the K centres."""

    features: DDPMPixelFeatures
    kmeans: MiniBatchKMeans
    cfg: KMeansDDPMConfig

    @classmethod
    def build(cls, model, diffusion, cfg: KMeansDDPMConfig) -> KMeansDDPM:
        with torch.no_grad():
            r = model.cfg.resolution
            probe = torch.zeros(1, 3, r, r, device=cfg.device)
            y = (
                torch.zeros(1, dtype=torch.long, device=cfg.device)
                if model.cfg.num_classes
                else None
            )
            t0 = torch.zeros(1, dtype=torch.long, device=cfg.device)
            n_blocks = len(model.decoder_features(probe, t0, y))
        ts = cfg.ts or default_ts(diffusion.num_timesteps)
        blocks = cfg.blocks or default_blocks(n_blocks)
        log.info("DatasetDDPM features: t = %s, decoder blocks %s of %d", ts, blocks, n_blocks)
        feats = DDPMPixelFeatures(model, diffusion, tuple(ts), tuple(blocks), cfg.seed)
        return cls(feats, MiniBatchKMeans(cfg.num_clusters, cfg.seed), cfg)

    def fit(self, batches_fn, total: int) -> None:
        """``batches_fn()`` yields (x0, y) batches; ``epochs`` passes of mini-batch K-means."""
        g = torch.Generator().manual_seed(self.cfg.seed)
        start, seen = time.monotonic(), 0
        for epoch in range(self.cfg.epochs):
            desc = f"kmeans fit {epoch + 1}/{self.cfg.epochs}"
            for i, (x, y) in enumerate(pbar(batches_fn(), total=total, desc=desc, leave=False)):
                f = self.features(x.to(self.cfg.device), _dev(y, self.cfg.device), i)
                self.kmeans.partial_fit(_pixels(f, self.cfg.pixels_per_image, g))
                seen += len(x)
        log.info(
            "K-means fitted on %d image passes in %.1f s (%.1f images/s)",
            seen,
            time.monotonic() - start,
            seen / max(time.monotonic() - start, 1e-9),
        )

    def predict(self, batches_fn, total: int) -> np.ndarray:
        """Cluster maps [N x H x W] uint8 of every image the batches yield."""
        out = []
        for i, (x, y) in enumerate(pbar(batches_fn(), total=total, desc="kmeans", leave=False)):
            f = self.features(x.to(self.cfg.device), _dev(y, self.cfg.device), i)
            b, _, h, w = f.shape
            out.append(self.kmeans.predict(_pixels(f, 0, None)).view(b, h, w).to(torch.uint8))
        return torch.cat(out).cpu().numpy()


def _dev(y: torch.Tensor | None, device: str) -> torch.Tensor | None:
    return None if y is None else y.to(device)


def run_kmeans_baseline(
    model_path: str | Path,
    data: str | Path,
    out: str | Path,
    cfg: KMeansDDPMConfig,
    fit_split: str = "train",
    split: str | None = "test",
    samples: str | Path | None = None,
) -> np.ndarray:
    """Fit on ``data``'s ``fit_split``; label ``split`` of ``data`` (or the ``samples`` file);
    write a segmentation file to ``out``. Returns the masks [N x H x W]."""
    from fdiff.inference.predictions import write_segmentation
    from fdiff.training.checkpoint import load_model

    model, diffusion = load_model(model_path, cfg.device)
    if getattr(model.cfg, "factorized", False):
        raise FdiffError(f"{model_path}: DatasetDDPM-unsup needs a standard DDPM (arch 'ddpm')")
    cond = bool(model.cfg.num_classes)
    base = KMeansDDPM.build(model, diffusion, cfg)
    n_fit = len(H5ImageDataset(data, fit_split))
    n_fit = n_fit if cfg.fit_limit <= 0 else min(n_fit, cfg.fit_limit)
    bs = cfg.batch_size
    base.fit(
        lambda: split_batches(data, fit_split, bs, cfg.fit_limit, cond), _num_batches(n_fit, bs)
    )
    if samples is not None:
        with h5py.File(samples, "r") as f:
            n = f["images"].shape[0] if "images" in f else 0
        masks = base.predict(lambda: samples_batches(samples, bs, cond), _num_batches(n, bs))
        target = {"data": str(samples), "split": "samples"}
    else:
        assert split is not None
        n = len(H5ImageDataset(data, split))
        masks = base.predict(lambda: split_batches(data, split, bs, 0, cond), _num_batches(n, bs))
        target = {"data": str(data), "split": split}
    attrs = {
        **target,
        "t": -1,  # several noise levels: see feature_ts
        "feature_ts": list(base.features.ts),
        "feature_blocks": list(base.features.blocks),
        "num_regions": cfg.num_clusters,
        "method": "kmeans-ddpm",
        "checkpoint": str(model_path),
        "fit_data": str(data),
        "fit_split": fit_split,
    }
    write_segmentation(out, masks, attrs)
    return masks
