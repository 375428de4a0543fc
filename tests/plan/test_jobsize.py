"""GPU job runtimes from FLOPs (fdiff.plan.jobsize): the FLOP table is the network's, the minutes
follow from it."""

from __future__ import annotations

import pytest

from fdiff.config import ARCH_VARIANTS, ModelConfig
from fdiff.errors import FdiffError
from fdiff.model.presets import PRESETS
from fdiff.model.summary import count_flops
from fdiff.plan.jobsize import FORWARD_GFLOP, GpuThroughput, forward_gflop


def _cfg(preset: str, arch: str, regions: int = 3) -> ModelConfig:
    kind, decoding = ARCH_VARIANTS.get(arch, ("factorized", "shared"))
    kw = {"arch": kind, "num_regions": regions}
    if kind == "factorized":
        kw["decoding"] = decoding
    if arch == "hierarchical":
        kw["sub_regions"] = 2
    return ModelConfig(**{**PRESETS[preset], **kw})


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_table_is_the_networks_flop_count(preset):
    assert set(FORWARD_GFLOP) == set(PRESETS)
    for arch, gflop in FORWARD_GFLOP[preset].items():
        assert count_flops(_cfg(preset, arch)) / 1e9 == pytest.approx(gflop, rel=1e-4), arch


@pytest.mark.parametrize("regions", [2, 5])
def test_other_region_counts_scale_the_decoders(regions):
    for arch in ("factorized", "concat"):
        counted = count_flops(_cfg("paper64", arch, regions)) / 1e9
        assert forward_gflop("paper64", arch, regions) == pytest.approx(counted, rel=2e-3)


def test_minutes_from_flops():
    gpu = GpuThroughput(tflops=5, safety=1.5, min_runtime=30)
    # 512 images x 1000 DDPM steps of paper128's factorized model: 43,142 s at 5 TFLOP/s
    big = gpu.minutes(512 * 1000, forward_gflop("paper128", "factorized"))
    assert big == 1079
    assert gpu.minutes(512 * 1000, forward_gflop("paper64", "factorized")) < big
    assert gpu.minutes(1, 1.0) == 30  # the floor
    assert GpuThroughput(tflops=10, safety=1.5, min_runtime=30).minutes(512000, 421.317) == 540


def test_unknown_preset_and_bad_settings_are_named():
    with pytest.raises(FdiffError, match="model.preset 'paper256'"):
        forward_gflop("paper256", "factorized")
    with pytest.raises(FdiffError, match="gpu_resources.tflops"):
        GpuThroughput(tflops=0, safety=1.5, min_runtime=30)
