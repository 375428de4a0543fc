"""The wall time a GPU job asks SLURM for, from the work it does.

A sampling job runs the network once per image and step: its time is images x steps x the
forward FLOPs of one image, divided by a stated sustained GPU throughput, times a safety factor
for what the count leaves out (data, checkpoint load, a slower GPU), rounded up to minutes and
at least a floor. A fair-share queue starts a job that asks for less sooner; one that asks for
too little is stopped at its limit and resumed by its retry (sample shards keep their finished
batches), so the estimate errs on the large side by the safety factor only.

The FLOPs are data here, not counted at parse time: the workflow plans in an environment
without torch. Each is `fdiff summary --preset P --arch A --num-regions 3 --json`'s
gflops_forward (the hierarchical model: sub_regions 2); tests/plan/test_jobsize.py checks them
against fdiff.model.summary.count_flops, so a change of the network that changes its cost fails
there.

Host memory is a stated base (Python, torch, the CUDA context's host side, per-batch buffers)
plus what the job loads and keeps: the network's weights (twice: the checkpoint's tensors and
the model built from them), the dataset split when it is small enough to be read into RAM
(`fdiff.data.loader.in_memory_limit`, 4 GiB by default; a larger split is streamed), the sample
set, the region maps it writes, FID's Inception features. That part is multiplied by the same
safety factor; the request is rounded up to MB, at least the base, at most `max_mem_mb` (the
node's memory per GPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fdiff.data.registry import PIXEL_IMAGENET_CLASSES, SPLIT_IMAGES
from fdiff.errors import FdiffError

# GFLOP of one forward pass of one image, K = 3 regions, by preset and workflow arch.
FORWARD_GFLOP: dict[str, dict[str, float]] = {
    "paper64": {
        "ddpm": 79.444,
        "factorized": 247.52,
        "concat": 135.69,
        "mask_hmid": 247.52,
        "unshared": 247.52,
        "hierarchical": 471.64,
    },
    "paper128": {
        "ddpm": 132.85,
        "factorized": 421.32,
        "concat": 229.55,
        "mask_hmid": 421.32,
        "unshared": 421.32,
        "hierarchical": 806.05,
    },
    "demo": {
        "ddpm": 0.13287,
        "factorized": 0.4003,
        "concat": 0.22373,
        "mask_hmid": 0.4003,
        "unshared": 0.4003,
        "hierarchical": 0.75733,
    },
    "tiny": {
        "ddpm": 0.034486,
        "factorized": 0.10325,
        "concat": 0.058268,
        "mask_hmid": 0.10325,
        "unshared": 0.10325,
        "hierarchical": 0.19516,
    },
}
FORWARD_REGIONS = 3


def forward_gflop(preset: str, arch: str, num_regions: int = FORWARD_REGIONS) -> float:
    """GFLOP of one forward pass of one image of the model (`preset`, workflow `arch`).

    The table holds K = 3; another K scales the part of the cost that grows with it: the
    decoder runs once per region (everything above the DDPM-sized mask path), except
    `concat`'s, which runs once on the concatenated regions (its cost barely moves with K)."""
    if preset not in FORWARD_GFLOP or arch not in FORWARD_GFLOP[preset]:
        raise FdiffError(
            f"model.preset {preset!r} (arch {arch!r}): no forward FLOPs in "
            f"fdiff.plan.jobsize.FORWARD_GFLOP (known presets: {sorted(FORWARD_GFLOP)}); add the "
            "figure of `fdiff summary --preset P --arch A --json`"
        )
    row = FORWARD_GFLOP[preset]
    total = row[arch]
    if arch in ("ddpm", "concat") or num_regions == FORWARD_REGIONS:
        return total
    shared = row["ddpm"]
    return shared + (total - shared) * num_regions / FORWARD_REGIONS


# Millions of parameters of each network, K = 3 (build_model on the meta device; checked by
# tests/plan/test_jobsize.py like the FLOPs).
PARAMS_M: dict[str, dict[str, float]] = {
    "paper64": {
        "ddpm": 121.06,
        "factorized": 193.741,
        "concat": 193.91,
        "mask_hmid": 193.741,
        "unshared": 339.101,
        "hierarchical": 266.424,
    },
    "paper128": {
        "ddpm": 94.998,
        "factorized": 152.426,
        "concat": 152.568,
        "mask_hmid": 152.426,
        "unshared": 267.282,
        "hierarchical": 209.857,
    },
    "demo": {
        "ddpm": 0.756,
        "factorized": 1.166,
        "concat": 1.173,
        "mask_hmid": 1.166,
        "unshared": 1.984,
        "hierarchical": 1.576,
    },
    "tiny": {
        "ddpm": 0.191,
        "factorized": 0.294,
        "concat": 0.298,
        "mask_hmid": 0.294,
        "unshared": 0.501,
        "hierarchical": 0.398,
    },
}
# FID's Inception-v3 at 299 px (images of any size are resized to it): GFLOP and parameters of
# torchvision's inception_v3 without the auxiliary head, the layers torch-fidelity's network has.
INCEPTION_GFLOP = 11.426
INCEPTION_PARAMS_M = 23.835
INCEPTION_FEATURES = 2048
# Host bytes per Inception feature: torch-fidelity keeps every feature of both sets (float32)
# and numpy.cov copies a set to float64 for its statistics.
FEATURE_BYTES = 4 + 8
IN_MEMORY_GIB = 4  # fdiff.data.loader.in_memory_limit's default (tests/plan/test_jobsize.py)
TRAIN_PASSES = 3  # a training step: forward and backward, about three forwards
# `fdiff baseline-kmeans` defaults the workflow keeps: fitting images, noise levels of the
# features (fdiff.baselines.kmeans_ddpm: the reference's 3 t).
KMEANS_FIT_LIMIT = 5000
KMEANS_NOISE_LEVELS = 3


def split_images(name: str, dataset: dict, split: str) -> int | None:
    """Images of `split` of the config's dataset `name` (its `datasets:` entry), or None where
    the plan cannot know (a folder of your own images): that job then asks the flat
    gpu_resources.runtime and mem_mb."""
    kind = dataset.get("kind") or name
    if dataset.get("source") == "synthetic":
        return dataset.get(f"num_{split}")
    if kind == "pixel-imagenet":  # at most per_class (test) / train_per_class images a class
        per = {"test": dataset.get("per_class"), "train": dataset.get("train_per_class")}
        return per[split] * PIXEL_IMAGENET_CLASSES if per.get(split) else None
    return SPLIT_IMAGES.get(kind, {}).get(split)


def params_m(preset: str, arch: str) -> float:
    """Millions of parameters of the model (`preset`, workflow `arch`), K = 3: weights are a
    small part of a job's memory, so another K is not rescaled."""
    forward_gflop(preset, arch)  # the same check and message
    return PARAMS_M[preset][arch]


def images_bytes(n: int, res: int, channels: int = 3) -> int:
    return n * res * res * channels


def split_in_ram(n: int, res: int) -> int:
    """Bytes a dataset split of `n` images takes in the job: all of them when they fit the
    loader's in-memory limit, else none (streamed in chunks)."""
    size = images_bytes(n, res)
    return size if size <= IN_MEMORY_GIB * 2**30 else 0


@dataclass(frozen=True)
class GpuWork:
    """What one GPU job does, as the plan can count it before it runs."""

    forwards: float  # network passes of one image (a training step of a batch: 3 x batch)
    gflop: float  # GFLOP of one pass
    params_m: float  # millions of parameters the job loads
    host_bytes: float  # images, maps and features it holds in host memory


def sampling(preset, arch, regions, images, steps, res, frames=1, soft=False) -> GpuWork:
    """`images` drawn with `steps` sampler steps; `frames` kept per image (a trajectory) with
    their region maps, or K soft masks in float16 (`soft`)."""
    per_pixel = 3 + (2 * regions if soft else 1)
    return GpuWork(
        images * steps,
        forward_gflop(preset, arch, regions),
        params_m(preset, arch),
        images * frames * res * res * per_pixel,
    )


def segmentation(preset, arch, regions, images, res, passes=1, maps=1) -> GpuWork:
    """A dataset split of `images` segmented `passes` times (the t sweep: once per t), its
    images in RAM when small, `maps` region maps per image kept (the sweep: truth and one t)."""
    return GpuWork(
        images * passes,
        forward_gflop(preset, arch, regions),
        params_m(preset, arch),
        split_in_ram(images, res) + images * res * res * maps,
    )


def kmeans(preset, fit_images, images, res, noise_levels=3, streamed=0) -> GpuWork:
    """DatasetDDPM-unsup: DDPM features at `noise_levels` t of the fitting images, then of the
    labelled ones; both splits in RAM when small (`streamed` images come from a sample file)."""
    return GpuWork(
        (fit_images + images + streamed) * noise_levels,
        forward_gflop(preset, "ddpm"),
        params_m(preset, "ddpm"),
        split_in_ram(fit_images, res) + split_in_ram(images, res) + (images + streamed) * res**2,
    )


def fid(samples, ref_images) -> GpuWork:
    """FID and KID: Inception features of the samples and of the reference split."""
    n = samples + ref_images
    return GpuWork(n, INCEPTION_GFLOP, INCEPTION_PARAMS_M, n * INCEPTION_FEATURES * FEATURE_BYTES)


def supervised(preset, images, res, train_steps=0, batch_size=0) -> GpuWork:
    """The supervised U-Net (a DDPM-sized U-Net without timestep: the DDPM's FLOPs): training
    for `train_steps` of `batch_size` on `images` (its split in RAM when small, its masks
    always), or segmenting `images` (a split, or the sample set of mask consistency: two maps
    each)."""
    gflop, params = forward_gflop(preset, "ddpm"), params_m(preset, "ddpm")
    if train_steps:
        passes = train_steps * batch_size * TRAIN_PASSES
        return GpuWork(passes, gflop, params, split_in_ram(images, res) + images * res**2)
    return GpuWork(images, gflop, params, split_in_ram(images, res) + 2 * images * res**2)


@dataclass(frozen=True)
class GpuThroughput:
    """How work becomes a SLURM request: config `gpu_resources` (tflops, safety, min_runtime,
    max_runtime, base_mem_mb, max_mem_mb)."""

    tflops: float  # assumed sustained throughput of one GPU, TFLOP/s
    safety: float  # factor on the estimate
    min_runtime: int  # minutes: the least any job asks for
    max_runtime: int  # minutes: the most any job asks for (the partition's limit)
    base_mem_mb: int  # host MB of any GPU job before its data and weights
    max_mem_mb: int  # host MB: the most one GPU job asks (config mem_mb: a node's per GPU)

    def __post_init__(self):
        # mem_mb below base_mem_mb is accepted: every job then asks mem_mb, the flat request
        # that configs written before the sizing gave, so an upgrade does not break them
        for key, value, ok, expected in [
            ("tflops", self.tflops, self.tflops > 0, "a number > 0"),
            ("safety", self.safety, self.safety >= 1, "a number >= 1"),
            ("min_runtime", self.min_runtime, self.min_runtime >= 1, "minutes >= 1"),
            ("max_runtime", self.max_runtime, self.max_runtime >= self.min_runtime,
             f"minutes >= min_runtime ({self.min_runtime})"),
            ("base_mem_mb", self.base_mem_mb, self.base_mem_mb >= 1, "MB >= 1"),
            ("mem_mb", self.max_mem_mb, self.max_mem_mb >= 1, "MB >= 1"),
        ]:  # fmt: skip
            if not ok:
                raise FdiffError(f"config: gpu_resources.{key} = {value!r}: expected {expected}")

    def minutes(self, forwards: float, gflop: float, gpus: int = 1) -> int:
        """SLURM runtime (minutes) of `forwards` forward passes of `gflop` GFLOP each."""
        seconds = forwards * gflop * 1e9 / (self.tflops * 1e12 * gpus)
        estimate = max(self.min_runtime, math.ceil(self.safety * seconds / 60))
        return min(self.max_runtime, estimate)

    def runtime(self, work: GpuWork) -> int:
        return self.minutes(work.forwards, work.gflop)

    def mem_mb(self, work: GpuWork) -> int:
        """Host memory (MB) of the job: the base plus its weights (twice: the checkpoint's
        tensors and the model) and what it holds, times the safety factor."""
        loaded = 2 * work.params_m * 1e6 * 4 + work.host_bytes
        need = self.base_mem_mb + self.safety * loaded / 1e6
        return min(self.max_mem_mb, math.ceil(need))
