"""GPU job requests from their work (fdiff.plan.jobsize): the FLOP and parameter tables are the
networks', the minutes and megabytes follow from them and from the datasets' sizes."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from fdiff.baselines.supervised import SegUNet
from fdiff.config import ARCH_VARIANTS, ModelConfig
from fdiff.errors import FdiffError
from fdiff.model.build import build_model
from fdiff.model.presets import PRESETS
from fdiff.model.summary import count_flops
from fdiff.plan import jobsize
from fdiff.plan.jobsize import FORWARD_GFLOP, PARAMS_M, GpuThroughput, forward_gflop


def _gpu(**kw) -> GpuThroughput:
    """config/config.yaml's gpu_resources."""
    base = dict(tflops=5, safety=1.5, min_runtime=30, max_runtime=1440, base_mem_mb=8000,
                max_mem_mb=64000)  # fmt: skip
    return GpuThroughput(**{**base, **kw})


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
    gpu = _gpu()
    # 512 images x 1000 DDPM steps of paper128's factorized model: 43,142 s at 5 TFLOP/s
    big = gpu.minutes(512 * 1000, forward_gflop("paper128", "factorized"))
    assert big == 1079
    assert gpu.minutes(512 * 1000, forward_gflop("paper64", "factorized")) < big
    assert gpu.minutes(1, 1.0) == 30  # the floor
    assert _gpu(tflops=10).minutes(512000, 421.317) == 540
    assert _gpu(max_runtime=600).minutes(512 * 1000, 421.317) == 600  # the partition's limit


def test_unknown_preset_and_bad_settings_are_named():
    with pytest.raises(FdiffError, match="model.preset 'paper256'"):
        forward_gflop("paper256", "factorized")
    with pytest.raises(FdiffError, match="gpu_resources.tflops"):
        _gpu(tflops=0)
    with pytest.raises(FdiffError, match="gpu_resources.max_runtime = 20: expected minutes >= "):
        _gpu(max_runtime=20)


def test_a_node_memory_below_the_base_asks_it_flat():
    """A config from before the sizing (mem_mb 2000, no base_mem_mb: the schema's 8000) still
    plans: every GPU job asks its mem_mb, as it did."""
    work = jobsize.fid(1000, 1000)
    assert _gpu(max_mem_mb=2000).mem_mb(work) == 2000
    assert _gpu().mem_mb(work) > 8000


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_parameter_table_is_the_networks(preset):
    assert set(PARAMS_M) == set(FORWARD_GFLOP)
    assert set(PARAMS_M[preset]) == set(FORWARD_GFLOP[preset])
    for arch, millions in PARAMS_M[preset].items():
        with torch.device("meta"):
            model = build_model(_cfg(preset, arch))
        counted = sum(p.numel() for p in model.parameters()) / 1e6
        assert counted == pytest.approx(millions, rel=1e-3), arch


def test_fid_and_supervised_networks_cost_what_the_table_says():
    # FID's network is Inception-v3 at 299 px (torchvision's layers = torch-fidelity's)
    with torch.device("meta"):
        inception = torchvision.models.inception_v3(
            weights=None, aux_logits=False, init_weights=False
        ).eval()
    assert _forward_gflop(inception, 299) == pytest.approx(jobsize.INCEPTION_GFLOP, rel=1e-3)
    millions = sum(p.numel() for p in inception.parameters()) / 1e6
    assert millions == pytest.approx(jobsize.INCEPTION_PARAMS_M, rel=1e-3)
    # the supervised U-Net is costed as the DDPM of its preset
    for preset in ("paper64", "paper128"):
        cfg = ModelConfig(**{**PRESETS[preset], "arch": "ddpm"})
        with torch.device("meta"):
            seg = SegUNet(cfg, 3)
        gflop = _forward_gflop(seg, cfg.resolution)
        assert gflop == pytest.approx(forward_gflop(preset, "ddpm"), rel=1e-3)


def _forward_gflop(model: torch.nn.Module, res: int) -> float:
    model.requires_grad_(False)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, res, res, device="meta"))
    return counter.get_total_flops() / 1e9


def test_constants_are_the_codes_defaults(monkeypatch, tmp_path):
    from fdiff.baselines.kmeans_ddpm import KMeansDDPMConfig, default_ts
    from fdiff.cli import build_parser
    from fdiff.data.loader import IN_MEMORY_ENV, in_memory_limit

    monkeypatch.delenv(IN_MEMORY_ENV, raising=False)
    assert in_memory_limit() == jobsize.IN_MEMORY_GIB * 2**30
    assert KMeansDDPMConfig().fit_limit == jobsize.KMEANS_FIT_LIMIT
    assert len(default_ts(1000)) == jobsize.KMEANS_NOISE_LEVELS
    for name in ("m.pt", "d.h5"):
        (tmp_path / name).write_bytes(b"")
    args = build_parser().parse_args(
        ["baseline-kmeans", "--model", str(tmp_path / "m.pt"), "--data", str(tmp_path / "d.h5"),
         "--out", str(tmp_path / "o.h5")]
    )  # fmt: skip
    assert args.fit_limit == jobsize.KMEANS_FIT_LIMIT


def test_split_sizes_from_the_registry_and_the_config():
    assert jobsize.split_images("cub", {"source": "download"}, "test") == 1000
    assert jobsize.split_images("flowers", {}, "train") == 6149
    pix = {"kind": "pixel-imagenet", "per_class": 20, "train_per_class": 10}
    assert jobsize.split_images("pixelimagenet", pix, "test") == 20 * 946
    assert jobsize.split_images("pixelimagenet", pix, "train") == 10 * 946
    shapes = {"source": "synthetic", "num_train": 300, "num_test": 40}
    assert jobsize.split_images("shapes", shapes, "test") == 40
    # a folder of your own images: unknown, the job asks the flat request
    assert jobsize.split_images("mine", {"kind": "folder", "source": "local"}, "train") is None


def test_memory_from_what_the_job_loads():
    gpu = _gpu()
    # 1,000 CUB test images at 128 px through the factorized model: the weights twice (1,219 MB),
    # the split in RAM (49 MB) and its maps (16 MB), x 1.5, on the 8,000 MB base
    work = jobsize.segmentation("paper128", "factorized", 3, 1000, 128)
    assert work.host_bytes == 1000 * 128 * 128 * 4
    assert gpu.mem_mb(work) == 9928
    # FID against ImageNet's 1,281,167 training images: their Inception features dominate
    fid = jobsize.fid(10000, 1_281_167)
    assert fid.forwards == 1_291_167 and fid.host_bytes == 1_291_167 * 2048 * 12
    assert gpu.mem_mb(fid) == 55884  # 8,000 + 1.5 x (31,733 + 191 MB)
    assert _gpu(max_mem_mb=48000).mem_mb(fid) == 48000  # never more than the node's share
    # a split over the in-memory limit is streamed: only its maps stay
    big = jobsize.segmentation("paper64", "ddpm", 3, 1_281_167, 64)
    assert big.host_bytes == 1_281_167 * 64 * 64
    # the floor: a tiny job asks for the base
    assert gpu.mem_mb(jobsize.segmentation("tiny", "ddpm", 3, 10, 16)) == 8003


def test_runtime_from_passes():
    gpu = _gpu()
    # the t sweep segments its split once per t: 7 times the work of one segmentation
    one = jobsize.segmentation("paper128", "factorized", 3, 2824, 128)
    sweep = jobsize.segmentation("paper128", "factorized", 3, 2824, 128, passes=7, maps=2)
    assert sweep.forwards == 7 * one.forwards and gpu.runtime(sweep) > gpu.runtime(one)
    # training counts forward and backward: 3 passes per image of each step
    train = jobsize.supervised("paper64", 6149, 64, train_steps=100, batch_size=64)
    assert train.forwards == 100 * 64 * 3
    assert train.host_bytes == 6149 * 64 * 64 * 4  # images and masks of the train split
