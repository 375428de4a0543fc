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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class GpuThroughput:
    """How forward passes become minutes: config `gpu_resources` (tflops, safety, min_runtime)."""

    tflops: float  # assumed sustained throughput of one GPU, TFLOP/s
    safety: float  # factor on the estimate
    min_runtime: int  # minutes: the least any job asks for

    def __post_init__(self):
        for key, value, ok in [
            ("tflops", self.tflops, self.tflops > 0),
            ("safety", self.safety, self.safety >= 1),
            ("min_runtime", self.min_runtime, self.min_runtime >= 1),
        ]:
            if not ok:
                raise FdiffError(f"config: gpu_resources.{key} = {value!r}: out of range")

    def minutes(self, forwards: int, gflop: float, gpus: int = 1) -> int:
        """SLURM runtime (minutes) of `forwards` forward passes of `gflop` GFLOP each."""
        seconds = forwards * gflop * 1e9 / (self.tflops * 1e12 * gpus)
        return max(self.min_runtime, math.ceil(self.safety * seconds / 60))
