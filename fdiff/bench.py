"""Speed figures (``fdiff bench``): step time against the FLOP count, for every model variant.

Sections, each a set of rows of one table (and one CSV):

- ``train``: one training step (forward, Eq. 8 loss, backward, Adam) of the standard U-Net and
  of every factorized variant: ``shared`` (the K branches batched into one decoder call),
  ``shared-looped`` (the Python loop over K, the reference), ``unshared``, ``concat`` and
  ``mask_hmid``. Beside the time ratio to the standard model stands the FLOP ratio; their
  quotient (``time/flop``) is 1 when a variant is exactly as efficient per FLOP as the standard
  model. Achieved TFLOP/s count the model's FLOPs (forward + backward, counted by
  :class:`~torch.utils.flop_counter.FlopCounterMode` on the meta device; about 3x the forward),
  not the recomputation of activation checkpointing.
- ``segment``: the masks-only path (encoder, middle, mask generator) against the full factorized
  forward, in inference mode.
- ``sample``: DDPM with all T steps against DDIM with k steps, images/s per full sampling run.
  Unless asked to run them in full, only a few sampler steps are timed and the full run is
  extrapolated from the per-step time (the ``note`` column says so).
- ``data``: images/s through the training DataLoader over a temporary synthetic-shapes file.

On CUDA every step runs under bf16 autocast with channels_last tensors (the fastest correct
settings, also the training defaults); times come from CUDA events after a
``torch.cuda.synchronize``, warm-up steps excluded; peak memory is
``torch.cuda.max_memory_allocated``. On the CPU, times come from ``time.perf_counter`` and the
memory column is the peak resident set size above the level before the model was built,
sampled every 2 ms from ``/proc`` during one extra untimed step (a lower bound: freed memory the
allocator keeps is not seen again).

``find_max_batch`` (``fdiff bench --max-batch``, CUDA only) finds the largest batch whose
training step fits in GPU memory by doubling then bisecting on ``torch.cuda.OutOfMemoryError``.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import datetime
import gc
import logging
import math
import os
import resource
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from fdiff.config import ARCH_VARIANTS, DiffusionConfig, ModelConfig, model_config_from_dict
from fdiff.diffusion import GaussianDiffusion
from fdiff.errors import FdiffError
from fdiff.io import atomic_path
from fdiff.models import build_model
from fdiff.nn import set_activation_checkpointing

log = logging.getLogger(__name__)

# bf16 dense tensor-core peak (TFLOP/s, no sparsity) by device name; first match wins.
PEAK_BF16_TFLOPS: list[tuple[str, float]] = [
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM / HBM3
    ("A100", 312.0),
]

# (row name, arch variant of fdiff.config.ARCH_VARIANTS, looped reference)
TRAIN_VARIANTS: list[tuple[str, str, bool]] = [
    ("ddpm", "ddpm", False),
    ("shared", "factorized", False),
    ("shared-looped", "factorized", True),
    ("unshared", "unshared", False),
    ("concat", "concat", False),
    ("mask_hmid", "mask_hmid", False),
]
SECTIONS = ("train", "segment", "sample", "data")

# Issue 7's targets on the 64 px paper preset (reported, never asserted).
TARGET_TIME_OVER_FLOP = 1.05  # factorized/standard step-time ratio <= 1.05x the FLOP ratio
TARGET_PEAK_SHARE = 0.40  # training step at >= 40% of the bf16 dense peak
TARGET_SEGMENT_SPEEDUP = 3.0  # masks-only images/s >= 3x the full factorized forward
TARGET_DDIM_SPEEDUP = 9.0  # DDIM-100 >= 9x DDPM-1000 per sample


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
        o.device = _resolve_device(o.device)
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


@dataclass
class Row:
    """One line of the table and of the CSV (the columns are the field names)."""

    section: str
    name: str
    preset: str = ""
    device: str = ""
    batch_size: int = 0
    ms_per_step: float = math.nan  # per model call / sampler step / loader batch
    images_per_s: float = math.nan
    gflop_per_image: float = math.nan  # train: forward + backward; otherwise forward
    flop_ratio: float = math.nan  # to the section's reference row
    time_ratio: float = math.nan  # per image, to the section's reference row
    time_over_flop: float = math.nan  # time_ratio / flop_ratio
    speedup: float = math.nan  # images/s over the reference row's
    tflops: float = math.nan  # achieved
    peak_share: float = math.nan  # of the device's bf16 dense peak, where known
    peak_mem_mib: float = math.nan
    compile_s: float = math.nan
    measured_steps: int = 0
    load1: float = math.nan  # 1-minute load average when the row was measured
    note: str = ""


CSV_COLUMNS = [f.name for f in fields(Row)]


@dataclass
class BenchResult:
    rows: list[Row]
    meta: dict[str, str] = field(default_factory=dict)


# -- environment ---------------------------------------------------------------------------------
def _resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FdiffError("--device cuda but CUDA is not available")
    if name != "cpu" and not name.startswith("cuda"):
        raise FdiffError(f"--device {name!r}: expected cpu, cuda or auto")
    return name


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU {platform.processor() or platform.machine()} x{os.cpu_count()}"


def peak_tflops(device: torch.device) -> float | None:
    """The bf16 dense peak of a known GPU, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS:
        if key in name:
            return value
    return None


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load1() -> float:
    return os.getloadavg()[0]


# -- timing and memory ---------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(
    fn: Callable[[], object], device: torch.device, warmup: int, steps: int
) -> tuple[float, list[float]]:
    """Seconds of the first call (compilation, if any, included) and of each timed call.

    The first call is the first warm-up call (or a timed one when ``warmup`` is 0). On CUDA each
    timed call is bracketed by CUDA events and the device is synchronised before timing starts.
    """
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    first = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        fn()
    sync(device)
    times = [] if warmup > 0 else [first]
    for _ in range(steps - len(times)):
        if device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return first, times


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the lifetime high-water mark (KiB on Linux, bytes on macOS)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def peak_rss_sampler(interval: float = 0.002) -> Iterator[dict[str, int]]:
    """Sample the resident set size in a thread; yields a dict whose ``peak`` is filled in."""
    out = {"peak": _rss_bytes()}
    stop = threading.Event()

    def run():
        while not stop.is_set():
            out["peak"] = max(out["peak"], _rss_bytes())
            stop.wait(interval)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        yield out
    finally:
        stop.set()
        th.join()
        out["peak"] = max(out["peak"], _rss_bytes())


def measure_peak_mib(fn: Callable[[], object], device: torch.device, baseline: int) -> float:
    """Peak memory of one call of ``fn`` (MiB): CUDA max allocated, or peak RSS over baseline."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        sync(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    with peak_rss_sampler() as rss:
        fn()
    return max(rss["peak"] - baseline, 0) / 2**20


def free_memory(device: torch.device) -> None:
    """Collect garbage and hand freed memory back (CUDA cache; glibc heap via malloc_trim), so
    that the next variant's memory is measured from a clean baseline."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# -- FLOPs ---------------------------------------------------------------------------------------
def _meta_inputs(cfg: ModelConfig, batch: int = 1):
    x = torch.zeros(batch, cfg.in_channels, cfg.resolution, cfg.resolution, device="meta")
    t = torch.zeros(batch, dtype=torch.long, device="meta")
    y = torch.zeros(batch, dtype=torch.long, device="meta") if cfg.num_classes else None
    return x, t, y


def count_flops(cfg: ModelConfig, kind: str = "train", looped: bool = False) -> float:
    """FLOPs per image on the meta device (no memory, no arithmetic).

    ``kind``: ``train`` (forward and backward of the eps loss), ``forward``, ``masks``.
    """
    with torch.device("meta"):
        model = build_model(cfg)
    x, t, y = _meta_inputs(cfg)
    counter = FlopCounterMode(display=False)
    with counter:
        if kind == "masks":
            with torch.no_grad():
                model.predict_masks(x, t, y)
        elif kind == "forward":
            with torch.no_grad():
                model(x, t, y, looped=looped) if looped else model(x, t, y)
        elif kind == "train":
            out = model(x, t, y, looped=looped) if looped else model(x, t, y)
            out.eps.float().pow(2).mean().backward()
        else:
            raise ValueError(kind)
    return float(counter.get_total_flops())


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
    """The model on ``device`` (channels_last on CUDA), optionally checkpointed and compiled."""
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


def _images(s: Setup, batch: int, gen: torch.Generator) -> torch.Tensor:
    res = s.cfg.resolution
    x = torch.randn(batch, s.cfg.in_channels, res, res, generator=gen).clamp(-1, 1).to(s.device)
    return x.contiguous(memory_format=torch.channels_last) if s.amp else x


def _labels(s: Setup, batch: int) -> torch.Tensor | None:
    if not s.cfg.num_classes:
        return None
    return torch.arange(batch, device=s.device) % s.cfg.num_classes


def train_step_fn(s: Setup, batch: int, seed: int = 0) -> Callable[[], float]:
    """One step of Algorithm 1 at a fixed batch: t and eps drawn each step, Adam update."""
    gen = torch.Generator().manual_seed(seed)
    x0 = _images(s, batch, gen)
    y = _labels(s, batch)
    opt = torch.optim.Adam(s.model.parameters(), lr=1e-4)
    s.model.train()

    def step():
        t = torch.randint(0, s.diffusion.num_timesteps, (batch,), device=s.device)
        noise = torch.randn_like(x0)
        with _autocast(s):
            loss = s.diffusion.loss(s.net, x0, t, noise, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


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
        base = _rss_bytes()
        s = build_setup(cfg, device, looped, o.compile, o.checkpoint_activations)
        step = train_step_fn(s, o.batch_size, o.seed)
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
        del s, step
        free_memory(device)
    ref = next((r for r in rows if r.name == "ddpm"), None)
    _fill_ratios(rows, ref)
    return rows


def bench_segment(o: BenchOptions, device: torch.device) -> list[Row]:
    cfg = model_config(o.preset, "factorized")
    s = build_setup(cfg, device, compile=o.compile)
    s.model.eval()
    gen = torch.Generator().manual_seed(o.seed)
    x = _images(s, o.batch_size, gen)
    t = torch.full((o.batch_size,), 29, device=device, dtype=torch.long)  # the paper's t = 30
    y = _labels(s, o.batch_size)
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
                note="factorized/shared, inference mode"
                + (", encoder+middle+mask generator" if kind == "masks" else ""),
            )
        )
    _fill_ratios(rows, rows[0])
    return rows


def bench_sample(o: BenchOptions, device: torch.device) -> list[Row]:
    """DDPM-T against DDIM-k for the factorized model, per image of a full sampling run."""
    from fdiff.samplers import ddim_sample, ddpm_sample

    cfg = model_config(o.preset, "factorized")
    s = build_setup(cfg, device, compile=o.compile)
    s.model.eval()
    full_t = s.diffusion.num_timesteps
    shape = (o.batch_size, cfg.in_channels, cfg.resolution, cfg.resolution)
    y = _labels(s, o.batch_size)
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
    from fdiff.data.shapes import ShapesConfig, write_shapes

    try:
        from fdiff.data.bench import loader_throughput
    except ImportError:  # the data helper's benchmark is not there yet
        return [Row("data", "loader", note="fdiff.data.bench not available")]
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


# -- the largest batch ---------------------------------------------------------------------------
def find_max_batch(fits: Callable[[int], bool], start: int = 8, limit: int = 8192) -> int:
    """The largest b in [1, limit] with ``fits(b)``, assuming fits is monotone (0 if none).

    Doubles from ``start`` until a batch fails, then bisects between the last success and the
    first failure.
    """
    lo, hi = 0, None  # lo fits (0: none known); hi fails
    b = max(1, min(start, limit))
    while hi is None:
        if fits(b):
            lo = b
            if b >= limit:
                return b
            b = min(2 * b, limit)
        else:
            hi = b
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def cuda_step_fits(cfg: ModelConfig, device: torch.device, checkpoint: bool, batch: int) -> bool:
    """Whether one training step at ``batch`` (bf16, channels_last, Adam) fits in GPU memory."""
    ok = False
    try:
        s = build_setup(cfg, device, checkpoint=checkpoint)
        step = train_step_fn(s, batch)
        step()
        step()  # the second step holds the Adam state as well
        sync(device)
        ok = True
    except torch.cuda.OutOfMemoryError:
        pass  # the exception (and the frames holding the tensors) is released after this block
    s = step = None
    free_memory(device)
    return ok


def bench_max_batch(
    presets: tuple[str, ...] = ("paper64", "paper128"),
    variants: tuple[str, ...] = ("ddpm", "factorized"),
    device: str = "cuda",
    limit: int = 4096,
) -> BenchResult:
    """Largest per-GPU training batch of each preset and variant, without and with checkpointing."""
    dev = torch.device(_resolve_device(device))
    if dev.type != "cuda":
        raise FdiffError("--max-batch searches for CUDA out-of-memory errors: it needs a GPU")
    rows = []
    total = torch.cuda.get_device_properties(dev).total_memory / 2**20
    for preset in presets:
        for variant in variants:
            cfg = model_config(preset, variant)
            for ckpt in (False, True):
                b = find_max_batch(lambda n, c=cfg, k=ckpt: cuda_step_fits(c, dev, k, n), 16, limit)
                rows.append(
                    Row(
                        "max_batch",
                        f"{variant}{' +ckpt' if ckpt else ''}",
                        preset=preset,
                        device=str(dev),
                        batch_size=b,
                        peak_mem_mib=total,
                        load1=load1(),
                        note=f"largest batch whose step fits (limit {limit}); "
                        "peak_mem_mib = device total",
                    )
                )
                log.info("max batch %s %s ckpt=%s: %d", preset, variant, ckpt, b)
    meta = {"device": device_name(dev), "commit": git_commit(), "torch": torch.__version__}
    return BenchResult(rows, meta)


# -- output --------------------------------------------------------------------------------------
def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    return str(v)


TABLE_COLUMNS = [
    ("section", "section"),
    ("name", "name"),
    ("batch_size", "B"),
    ("ms_per_step", "ms/step"),
    ("images_per_s", "img/s"),
    ("gflop_per_image", "GFLOP/img"),
    ("flop_ratio", "FLOP x"),
    ("time_ratio", "time x"),
    ("time_over_flop", "time/FLOP"),
    ("speedup", "speedup"),
    ("tflops", "TFLOP/s"),
    ("peak_share", "of peak"),
    ("peak_mem_mib", "mem MiB"),
    ("compile_s", "compile s"),
    ("load1", "load"),
]


def format_table(result: BenchResult) -> str:
    head = [h for _, h in TABLE_COLUMNS]
    body = [[_fmt(getattr(r, k)) for k, _ in TABLE_COLUMNS] for r in result.rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = [" ".join(f"{k}={v}" for k, v in result.meta.items())]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for cells in body:
        lines.append("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    notes = [f"  {r.section}/{r.name}: {r.note}" for r in result.rows if r.note]
    if notes:
        lines += ["notes:", *notes]
    return "\n".join(lines)


def target_report(result: BenchResult) -> list[str]:
    """Issue 7's targets against the figures (informative: met, missed and by how much).

    The targets are for the paper64 preset on an H100; other presets and devices get the same
    lines, marked as informative.
    """
    by = {(r.section, r.name): r for r in result.rows}
    out = []
    presets = {r.preset for r in result.rows}
    if presets and presets != {"paper64"}:
        out.append(f"(preset {', '.join(sorted(presets))}: the targets are set for paper64)")

    def check(label, value, target, higher=True):
        if value is None or math.isnan(value):
            return
        ok = value >= target if higher else value <= target
        out.append(
            f"{label}: {value:.3g} (target {'>=' if higher else '<='} {target:g}) "
            f"{'met' if ok else f'MISSED by {abs(value / target - 1):.0%}'}"
        )

    for name in ("shared", "unshared", "concat", "mask_hmid", "shared-looped"):
        r = by.get(("train", name))
        if r:
            check(f"train {name} time/FLOP ratio", r.time_over_flop, TARGET_TIME_OVER_FLOP, False)
    for name in ("ddpm", "shared"):
        r = by.get(("train", name))
        if r and not math.isnan(r.peak_share):
            check(f"train {name} share of bf16 peak", r.peak_share, TARGET_PEAK_SHARE)
    r = by.get(("segment", "masks_only"))
    if r:
        check("segment masks-only speedup", r.speedup, TARGET_SEGMENT_SPEEDUP)
    r = next((r for (sec, _), r in by.items() if sec == "sample" and "ddim" in r.name), None)
    if r:
        check(f"sample {r.name} speedup over DDPM", r.speedup, TARGET_DDIM_SPEEDUP)
    return out


def write_csv(result: BenchResult, path: str | os.PathLike) -> None:
    """The rows, one per line, plus the run's metadata in every row (date, commit, device)."""
    meta_cols = ["date", "commit", "device_name", "torch"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS + meta_cols)
        m = result.meta
        extra = [m.get("date", ""), m.get("commit", ""), m.get("device", ""), m.get("torch", "")]
        for r in result.rows:
            w.writerow(
                [
                    f"{v:.6g}" if isinstance(v, float) else v
                    for v in (getattr(r, c) for c in CSV_COLUMNS)
                ]
                + extra
            )
