"""FID and KID of generated images against a dataset split, through torch-fidelity (Table 5, top).

FID (Heusel et al. 2017) = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}) over the 2048-d
pool features of the TensorFlow FID Inception-v3; KID is the unbiased MMD with a cubic polynomial
kernel over random subsets. Both come from ``torch_fidelity.calculate_metrics`` on uint8
[3 x H x W] images read straight from the HDF5 files (resizing to 299 px happens inside the
extractor, as in the reference implementation).

The reference statistics (features and mean/covariance of the dataset split) are cached by
torch-fidelity under ``cache_root``; the cache name holds the dataset, resolution, split, image
count, the weights file's SHA-256 and the dataset file's size and mtime, so a different weights
file or a regenerated dataset never reuses stale statistics.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import torch
import torch_fidelity
from torch.utils.data import Dataset

from fdiff.data.hdf5 import read_attrs
from fdiff.errors import FdiffError
from fdiff.inference.predictions import file_attrs
from fdiff.metrics.inception import HOW_TO_GET_WEIGHTS, weights_digest

log = logging.getLogger(__name__)

WEIGHTS_ENV = "FDIFF_INCEPTION_WEIGHTS"


class H5Images(Dataset):
    """Images of an HDF5 file as torch-fidelity wants them: item i is uint8 [3 x H x W].

    ``key`` is ``images`` for a samples file, ``{split}/images`` for a dataset file. The file
    is opened lazily in each process (h5py handles do not survive fork).
    """

    def __init__(self, path: str | Path, key: str = "images", limit: int = 0) -> None:
        self.path, self.key = Path(path), key
        if not self.path.is_file():
            raise FdiffError(f"{self.path}: no such file (expected an HDF5 file with '{key}')")
        with h5py.File(self.path, "r") as f:
            if key not in f:
                raise FdiffError(f"{self.path}: no dataset '{key}' (expected uint8 [N, H, W, 3])")
            d = f[key]
            if d.ndim != 4 or d.shape[-1] != 3 or d.dtype != "uint8":
                raise FdiffError(
                    f"{self.path}: '{key}' is {d.dtype} {d.shape}: expected uint8 [N, H, W, 3]"
                )
            n = d.shape[0] if limit <= 0 else min(limit, d.shape[0])
            self.shape = (n, *d.shape[1:])  # the first ``limit`` images (0: all)
        self._file: h5py.File | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return torch.from_numpy(self._file[self.key][i]).permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class FidResult:
    """What ``fdiff fid`` writes (docs/contracts.md), plus the weights' digest and counts."""

    fid: float
    kid_mean: float
    kid_std: float
    n_samples: int
    n_ref: int
    ref: str
    ref_split: str
    sampler: str
    steps: int
    weights_sha256: str
    kid_subset_size: int
    feature_layer: str

    def to_json(self) -> dict:
        return asdict(self)


def resolve_weights(path: str | Path | None) -> Path:
    """The Inception weights file: ``path``, else $FDIFF_INCEPTION_WEIGHTS, else a clear error."""
    chosen = path or os.environ.get(WEIGHTS_ENV)
    if not chosen:
        raise FdiffError(f"no Inception weights for FID: {HOW_TO_GET_WEIGHTS}")
    p = Path(chosen)
    if not p.is_file():
        raise FdiffError(f"Inception weights {p}: no such file; {HOW_TO_GET_WEIGHTS}")
    return p


def ref_cache_name(ref: Path, split: str, n: int, resolution: int, digest: str) -> str:
    """torch-fidelity cache entry of a reference split (see the module docstring)."""
    attrs = read_attrs(ref)
    st = ref.stat()
    stamp = hashlib.sha1(f"{ref.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    dataset = str(attrs.get("dataset", ref.stem)).replace("/", "_")
    return f"fdiff-{dataset}-{resolution}px-{split}-n{n}-w{digest[:12]}-f{stamp[:12]}"


def compute_fid(
    samples: str | Path,
    ref: str | Path,
    ref_split: str = "train",
    weights: str | Path | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    kid_subset_size: int = 1000,
    device: str = "auto",
    verbose: bool = True,
    feature_layer: str = "2048",
    ref_limit: int = 0,
) -> FidResult:
    """FID and KID of ``samples`` (``images`` [N x H x W x 3]) against ``ref``'s ``ref_split``.

    ``feature_layer`` is the Inception feature FID and KID use: "2048" (the pool features, the
    standard) or a cheaper early one ("64", "192", "768") for quick checks and tests.
    ``ref_limit`` > 0 uses only the first ``ref_limit`` reference images (CPU demos; recorded
    as ``n_ref``).
    """
    weights = resolve_weights(weights)
    samples, ref = Path(samples), Path(ref)
    gen = H5Images(samples, "images")
    real = H5Images(ref, f"{ref_split}/images", limit=ref_limit)
    if gen.shape[1:] != real.shape[1:]:
        raise FdiffError(
            f"{samples}: images are {gen.shape[1:]} but {ref}:{ref_split} holds {real.shape[1:]}: "
            "FID needs both sets at the same resolution"
        )
    if len(gen) < 2 or len(real) < 2:
        raise FdiffError(
            f"FID needs >= 2 images per set: {samples} has {len(gen)}, {ref} {len(real)}"
        )
    digest = weights_digest(weights)
    subset = min(kid_subset_size, len(gen), len(real))
    cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    kwargs = {}
    if cache_dir is not None:
        kwargs = {
            "cache": True,
            "cache_root": str(cache_dir),
            "input2_cache_name": ref_cache_name(ref, ref_split, len(real), real.shape[1], digest),
        }
    start = time.monotonic()
    metrics = torch_fidelity.calculate_metrics(
        input1=gen,
        input2=real,
        fid=True,
        kid=True,
        kid_subset_size=subset,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(weights),
        feature_layer_fid=feature_layer,
        feature_layer_kid=feature_layer,
        batch_size=batch_size,
        cuda=cuda,
        save_cpu_ram=True,  # no worker processes: HDF5 reads are cheap next to Inception
        verbose=verbose,
        **kwargs,
    )
    log.info(
        "FID %.3f over %d samples vs %d reference images in %.1f s",
        metrics["frechet_inception_distance"],
        len(gen),
        len(real),
        time.monotonic() - start,
    )
    attrs = file_attrs(samples)
    return FidResult(
        fid=float(metrics["frechet_inception_distance"]),
        kid_mean=float(metrics["kernel_inception_distance_mean"]),
        kid_std=float(metrics["kernel_inception_distance_std"]),
        n_samples=len(gen),
        n_ref=len(real),
        ref=str(ref),
        ref_split=ref_split,
        sampler=str(attrs.get("sampler", "")),
        steps=int(attrs.get("steps", 0) or 0),
        weights_sha256=digest,
        kid_subset_size=subset,
        feature_layer=feature_layer,
    )
