"""Speed figures (``fdiff bench``): step time against the FLOP count, for every model variant.

Sections, each a set of rows of one table (and one CSV):

- ``train``: one training step, :meth:`fdiff.training.state.TrainState.train_step` itself (t and
  noise drawn, forward, Eq. 8 loss, backward, Adam, EMA update), of the standard U-Net and of every
  factorized variant: ``shared`` (the K branches batched into one decoder call),
  ``shared-looped`` (the Python loop over K, the reference), ``unshared``, ``concat`` and
  ``mask_hmid``. Beside the time ratio to the standard model stands the FLOP ratio; their
  quotient (``time/flop``) is 1 when a variant is exactly as efficient per FLOP as the standard
  model. Achieved TFLOP/s count the model's FLOPs (forward + backward, counted by
  :func:`fdiff.model.summary.count_flops`, the counter of ``fdiff summary``; about 3x the forward),
  not the recomputation of activation checkpointing.
- ``segment``: the masks-only path (encoder, middle, mask generator) against the full factorized
  forward, in inference mode.
- ``sample``: DDPM with all T steps against DDIM with k steps, images/s per full sampling run.
  Unless asked to run them in full, only a few sampler steps are timed and the full run is
  extrapolated from the per-step time (the ``note`` column says so).
- ``data``: images/s through the training DataLoader over a temporary synthetic-shapes file.

On CUDA every step runs under bf16 autocast with channels_last tensors (the training defaults);
warm-up steps are excluded; timing and memory are :mod:`fdiff.bench.timing`'s (CUDA events and
max allocated memory; on the CPU ``perf_counter`` and the peak RSS above the level before the
model was built, during one extra untimed step). The rows, the table, the targets and the CSV
are :mod:`fdiff.bench.report`'s.

``fdiff bench --max-batch`` (CUDA only) is :mod:`fdiff.bench.max_batch`.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from fdiff.bench.report import SECTIONS, TRAIN_VARIANTS, BenchResult, Row
from fdiff.bench.timing import (
    device_name,
    free_memory,
    git_commit,
    load1,
    measure_peak_mib,
    peak_tflops,
    rss_bytes,
    time_calls,
)
from fdiff.config import (
    ARCH_VARIANTS,
    DiffusionConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    model_config_from_dict,
)
from fdiff.device import resolve_device
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.errors import FdiffError
from fdiff.model.blocks import set_activation_checkpointing
from fdiff.model.build import build_model
from fdiff.model.summary import count_flops

log = logging.getLogger(__name__)


@dataclass
class BenchOptions:
    preset: str | None = None  # None: paper64 (quick: tiny)
    device: str = "auto"
    batch_size: int | None = None  # None: 64 on CUDA, 2 on the CPU (quick: 2)
    quick: bool = False
    compile: bool = False
    checkpoint_activations: bool = False
    warmup: int | None = None  # None: 3 on CUDA, 1 on the CPU
    steps: int | None = None  # timed steps; None: 10 on CUDA, 2 on the CPU
    variants: tuple[str, ...] = tuple(v[0] for v in TRAIN_VARIANTS)
    sections: tuple[str, ...] = SECTIONS
    ddim_steps: int = 100
    sample_steps: int | None = None  # sampler steps actually run; 0 = full; None: auto
    data_workers: int | None = None  # None: 0 in quick mode, else 2
    data_seconds: float | None = None
    seed: int = 0
    threads: int | None = None  # torch CPU threads; None: 1 in quick mode, else torch's default

    def resolved(self) -> BenchOptions:
        """Fill the device-dependent defaults; quick mode is the tiny preset and few steps."""
        o = BenchOptions(**asdict(self))
        o.device = str(resolve_device(o.device))
        cuda = o.device.startswith("cuda")
        o.preset = o.preset or ("tiny" if o.quick else "paper64")
        if o.quick:
            o.batch_size = o.batch_size or 2
            o.warmup = 1 if o.warmup is None else o.warmup
            o.steps = o.steps or 2
            o.ddim_steps = min(o.ddim_steps, 10)
            o.sample_steps = 2 if o.sample_steps is None else o.sample_steps
            o.data_seconds = o.data_seconds or 0.3
        o.batch_size = o.batch_size or (64 if cuda else 2)
        o.warmup = (3 if cuda else 1) if o.warmup is None else o.warmup
        o.steps = o.steps or (10 if cuda else 2)
        o.sample_steps = (0 if cuda else 3) if o.sample_steps is None else o.sample_steps
        o.data_workers = (0 if o.quick else 2) if o.data_workers is None else o.data_workers
        o.data_seconds = o.data_seconds or 3.0
        if o.threads is None and o.quick and not cuda:
            o.threads = 1  # a smoke check on a shared CI machine: no OpenMP spin-waiting
        unknown = set(o.variants) - {v[0] for v in TRAIN_VARIANTS}
        if unknown:
            raise FdiffError(f"unknown variant {sorted(unknown)[0]!r}")
        unknown = set(o.sections) - set(SECTIONS)
        if unknown:
            raise FdiffError(f"unknown section {sorted(unknown)[0]!r}; expected {SECTIONS}")
        return o


# -- the model under test ------------------------------------------------------------------------
@dataclass
class Setup:
    cfg: ModelConfig
    model: torch.nn.Module
    net: Callable  # what the loss calls: the (compiled) model, looped or not
    diffusion: GaussianDiffusion
    device: torch.device
    amp: bool


def model_config(preset: str, arch_variant: str) -> ModelConfig:
    arch, decoding = ARCH_VARIANTS[arch_variant]
    return model_config_from_dict({"preset": preset, "arch": arch, "decoding": decoding})


def build_setup(
    cfg: ModelConfig,
    device: torch.device,
    looped: bool = False,
    compile: bool = False,
    checkpoint: bool = False,
) -> Setup:
    """The model on ``device`` for the inference sections (channels_last on CUDA), optionally
    checkpointed and compiled."""
    model = build_model(cfg).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    set_activation_checkpointing(model, checkpoint)
    called = torch.compile(model) if compile else model
    net = (lambda x, t, y=None: called(x, t, y, looped=True)) if looped else called
    diffusion = GaussianDiffusion(DiffusionConfig()).to(device)
    return Setup(cfg, model, net, diffusion, device, amp=cuda)


def _autocast(s: Setup):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=s.amp)


def _images(cfg: ModelConfig, device: torch.device, batch: int, gen: torch.Generator):
    """Stand-in images [B x C x H x W] in [-1, 1] (channels_last on CUDA)."""
    res = cfg.resolution
    x = torch.randn(batch, cfg.in_channels, res, res, generator=gen).clamp(-1, 1).to(device)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def _labels(cfg: ModelConfig, device: torch.device, batch: int) -> torch.Tensor | None:
    if not cfg.num_classes:
        return None
    return torch.arange(batch, device=device) % cfg.num_classes


def training_step(
    cfg: ModelConfig,
    device: torch.device,
    batch: int,
    looped: bool = False,
    compile: bool = False,
    checkpoint: bool = False,
    seed: int = 0,
) -> Callable[[], torch.Tensor]:
    """The real training step at a fixed batch: :meth:`fdiff.training.state.TrainState.train_step`
    of a state built as ``fdiff train`` builds it (EMA copy, fused Adam on CUDA, bf16 and
    channels_last on CUDA, compiled or checkpointed on request); ``looped`` makes it call the
    factorized model's reference loop over K."""
    from fdiff.training.state import build_train_state

    tc = TrainConfig(
        batch_size=batch, device=device.type, compile=compile, checkpoint_activations=checkpoint,
        seed=seed,
    )  # fmt: skip
    state = build_train_state(RunConfig(cfg, DiffusionConfig(), tc))
    if looped:
        called = state.net
        state.net = lambda x, t, y=None: called(x, t, y, looped=True)
    x0 = _images(cfg, device, batch, torch.Generator().manual_seed(seed))
    y = _labels(cfg, device, batch)
    state.model.train()
    return lambda: state.train_step(x0, y)


# -- sections ------------------------------------------------------------------------------------
def _fill_ratios(rows: list[Row], ref: Row | None) -> None:
    if ref is None:
        return
    for r in rows:
        if ref.gflop_per_image > 0 and r.gflop_per_image > 0:
            r.flop_ratio = r.gflop_per_image / ref.gflop_per_image
        if r.images_per_s > 0 and ref.images_per_s > 0:
            r.speedup = r.images_per_s / ref.images_per_s
            r.time_ratio = ref.images_per_s / r.images_per_s
            if not math.isnan(r.flop_ratio):
                r.time_over_flop = r.time_ratio / r.flop_ratio


def bench_train(o: BenchOptions, device: torch.device, peak: float | None) -> list[Row]:
    rows = []
    for name, variant, looped in TRAIN_VARIANTS:
        if name not in o.variants:
            continue
        cfg = model_config(o.preset, variant)
        gflop = count_flops(cfg, "train", looped) / 1e9
        free_memory(device)
        base = rss_bytes()
        step = training_step(
            cfg, device, o.batch_size, looped, o.compile, o.checkpoint_activations, o.seed
        )
        first, times = time_calls(step, device, o.warmup, o.steps)
        mem = measure_peak_mib(step, device, base)
        sec = statistics.median(times)
        ips = o.batch_size / sec
        tflops = gflop * ips / 1e3
        row = Row(
            "train",
            name,
            ms_per_step=sec * 1e3,
            images_per_s=ips,
            gflop_per_image=gflop,
            tflops=tflops,
            peak_share=tflops / peak if peak else math.nan,
            peak_mem_mib=mem,
            compile_s=max(first - sec, 0.0) if o.compile else math.nan,
            measured_steps=len(times),
            load1=load1(),
            note="looped reference over K" if looped else "",
        )
        log.info("train %s: %.1f ms/step, %.2f images/s", name, row.ms_per_step, ips)
        rows.append(row)
        del step
        free_memory(device)
    ref = next((r for r in rows if r.name == "ddpm"), None)
    _fill_ratios(rows, ref)
    return rows


def bench_segment(o: BenchOptions, device: torch.device) -> list[Row]:
    cfg = model_config(o.preset, "factorized")
    s = build_setup(cfg, device, compile=o.compile)
    s.model.eval()
    gen = torch.Generator().manual_seed(o.seed)
    x = _images(cfg, device, o.batch_size, gen)
    t = torch.full((o.batch_size,), 29, device=device, dtype=torch.long)  # the paper's t = 30
    y = _labels(cfg, device, o.batch_size)
    masks_fn = torch.compile(s.model.predict_masks) if o.compile else s.model.predict_masks

    def run(fn):
        def call():
            with torch.inference_mode(), _autocast(s):
                return fn(x, t, y)

        return call

    rows = []
    for name, fn, kind in (
        ("full_forward", s.net, "forward"),
        ("masks_only", masks_fn, "masks"),
    ):
        first, times = time_calls(run(fn), device, o.warmup, o.steps)
        sec = statistics.median(times)
        ips = o.batch_size / sec
        gflop = count_flops(cfg, kind) / 1e9
        rows.append(
            Row(
                "segment",
                name,
                ms_per_step=sec * 1e3,
                images_per_s=ips,
                gflop_per_image=gflop,
                tflops=gflop * ips / 1e3,
                compile_s=max(first - sec, 0.0) if o.compile else math.nan,
                measured_steps=len(times),
                load1=load1(),
                note="factorized, inference mode"
                + (", encoder+middle+mask generator" if kind == "masks" else ""),
            )
        )
    _fill_ratios(rows, rows[0])
    return rows


def bench_sample(o: BenchOptions, device: torch.device) -> list[Row]:
    """DDPM-T against DDIM-k for the factorized model, per image of a full sampling run."""
    from fdiff.diffusion.samplers import ddim_sample, ddpm_sample

    cfg = model_config(o.preset, "factorized")
    s = build_setup(cfg, device, compile=o.compile)
    s.model.eval()
    full_t = s.diffusion.num_timesteps
    shape = (o.batch_size, cfg.in_channels, cfg.resolution, cfg.resolution)
    y = _labels(cfg, device, o.batch_size)
    gflop = count_flops(cfg, "forward") / 1e9

    def warm():  # a 2-step run: compilation and kernel selection, not a full sampling run
        with torch.inference_mode(), _autocast(s):
            ddim_sample(s.net, s.diffusion, shape, steps=2, y=y, progress=False, device=device)

    compile_s = math.nan
    if o.warmup:
        first, _ = time_calls(warm, device, 1, 0)
        compile_s = first
    rows = []
    for name, total in ((f"ddpm-{full_t}", full_t), (f"ddim-{o.ddim_steps}", o.ddim_steps)):
        run_steps = total if o.sample_steps == 0 else min(o.sample_steps, total)
        if name.startswith("ddpm"):
            # the per-step work does not depend on T: time ``run_steps`` steps of a shorter chain
            diff = s.diffusion
            if run_steps < full_t:
                diff = GaussianDiffusion(DiffusionConfig(timesteps=max(run_steps, 2))).to(device)
                run_steps = diff.num_timesteps

            def call(diff=diff):
                with torch.inference_mode(), _autocast(s):
                    return ddpm_sample(s.net, diff, shape, y=y, progress=False, device=device)
        else:

            def call(run_steps=run_steps):
                with torch.inference_mode(), _autocast(s):
                    return ddim_sample(
                        s.net, s.diffusion, shape, steps=run_steps, y=y, progress=False,
                        device=device,
                    )  # fmt: skip

        _, times = time_calls(call, device, 0, max(1, min(o.steps, 2)))
        per_step = statistics.median(times) / run_steps
        per_run = per_step * total
        ips = o.batch_size / per_run
        extrapolated = run_steps < total
        rows.append(
            Row(
                "sample",
                name,
                ms_per_step=per_step * 1e3,
                images_per_s=ips,
                gflop_per_image=gflop * total,
                tflops=gflop * total * ips / 1e3,
                compile_s=max(compile_s - 2 * per_step, 0.0) if o.compile else math.nan,
                measured_steps=run_steps,
                load1=load1(),
                note=(
                    f"extrapolated: {run_steps} of {total} steps timed, x{total / run_steps:g}"
                    if extrapolated
                    else "full sampling run timed"
                ),
            )
        )
    _fill_ratios(rows, rows[0])
    return rows


def bench_data(o: BenchOptions, cfg: ModelConfig) -> list[Row]:
    """Images/s of the training DataLoader over a temporary synthetic-shapes file."""
    from fdiff.bench.data import loader_throughput
    from fdiff.data.shapes import ShapesConfig, write_shapes

    n = 128 if o.quick else 1024
    batch = min(o.batch_size if o.quick else max(o.batch_size, 64), n)
    with tempfile.TemporaryDirectory(prefix="fdiff-bench-") as tmp:
        path = Path(tmp) / "shapes.h5"
        write_shapes(
            ShapesConfig(resolution=cfg.resolution, num_train=n, num_val=0, num_test=0), path
        )
        ips = loader_throughput(str(path), "train", batch, o.data_workers, o.data_seconds)
    return [
        Row(
            "data",
            "loader",
            batch_size=batch,
            ms_per_step=batch / ips * 1e3,
            images_per_s=ips,
            load1=load1(),
            note=f"shapes {cfg.resolution} px, {n} images, {o.data_workers} workers, flips",
        )
    ]


def run_bench(opts: BenchOptions) -> BenchResult:
    """Every section asked for; rows carry preset, device and batch size."""
    o = opts.resolved()
    device = torch.device(o.device)
    torch.manual_seed(o.seed)
    threads = torch.get_num_threads()
    if o.threads:
        torch.set_num_threads(o.threads)
    try:
        return _run_sections(o, device)
    finally:
        torch.set_num_threads(threads)


def _run_sections(o: BenchOptions, device: torch.device) -> BenchResult:
    peak = peak_tflops(device)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "device": device_name(device),
        "peak_bf16_tflops": f"{peak:g}" if peak else "unknown",
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "preset": o.preset,
        "batch_size": str(o.batch_size),
        "precision": "bf16 autocast, channels_last" if device.type == "cuda" else "float32",
        "compile": str(o.compile),
        "checkpoint_activations": str(o.checkpoint_activations),
        "loadavg_start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    rows: list[Row] = []
    if "train" in o.sections:
        rows += bench_train(o, device, peak)
    if "segment" in o.sections:
        rows += bench_segment(o, device)
    if "sample" in o.sections:
        rows += bench_sample(o, device)
    if "data" in o.sections:
        rows += bench_data(o, model_config(o.preset, "ddpm"))
    for r in rows:
        r.preset, r.device = o.preset, o.device
        r.batch_size = r.batch_size or o.batch_size
    meta["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return BenchResult(rows, meta)
