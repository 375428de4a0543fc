"""The prepared GPU run (issue 25): correctness on CUDA, the paper presets' speed, host syncs per
step, emergence at 32 px. ``benchmarks/gpu.sh`` runs each section in its own process under a
time limit, so that one failure or overrun loses that section only.

Every section appends rows to one long CSV (:data:`COLUMNS`: section, name, metric, value,
unit, status ``ok`` / ``skipped`` / ``failed``, note, the section's wall time, and the device
name, torch and CUDA versions, commit and date in every row); the speed sections also write
``fdiff bench``'s own CSVs beside it. ``--cpu-smoke`` runs every section for real at tiny sizes
on the CPU; what only CUDA has (sync debug mode, fused Adam, bf16 peak, the max-batch search,
torch.compile) is a ``skipped`` row that says why.

    python -m fdiff.bench.gpu --section forward --out benchmarks/results/gpu [--cpu-smoke]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import functools
import importlib.util
import math
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fdiff.bench.report import write_csv
from fdiff.bench.speed import BenchOptions, model_config, run_bench
from fdiff.bench.timing import device_name, git_commit

COLUMNS = ["section", "name", "metric", "value", "unit", "status", "note", "wall_s",
           "device_name", "torch", "cuda", "commit", "date"]  # fmt: skip
EXPERIMENTS = Path(__file__).resolve().parents[2] / "docs" / "experiments"  # the repository's


@dataclass(frozen=True)
class Sizes:
    """What each section runs: the GPU run's sizes, or the CPU smoke run's."""

    forward_preset: str = "paper64"
    forward_batch: int = 4
    train_preset: str = "paper64"
    train_batch: int = 32
    train_res: int = 64
    speed_presets: tuple[tuple[str, int, tuple[str, ...]], ...] = (
        ("paper64", 64, ("train", "segment", "sample")),
        ("paper128", 32, ("train",)),
    )
    speed_steps: int = 10
    sample_steps: int = 50  # sampler steps timed; the full runs are extrapolated
    data_res_preset: str = "paper64"
    data_workers: int = 8
    data_seconds: float = 5.0
    sync_preset: str = "paper64"
    sync_batch: int = 16
    sync_steps: int = 50
    emergence: tuple[str, ...] = (
        "--resolution", "32", "--base-channels", "64", "--K", "3", "--batch", "128",
        "--lr", "2e-4", "--num-train", "5000", "--num-test", "500", "--fit-n", "500",
        "--minutes", "1.25", "--budget", "wall", "--eval-every", "500", "--final-t", "30",
    )  # fmt: skip
    emergence_res: int = 32


GPU = Sizes()
SMOKE = Sizes(
    forward_preset="tiny", forward_batch=2, train_preset="tiny", train_batch=4, train_res=16,
    speed_presets=(("tiny", 2, ("train", "segment", "sample")), ("demo", 2, ("train",))),
    speed_steps=1, sample_steps=2, data_res_preset="tiny", data_workers=2, data_seconds=0.5,
    sync_preset="tiny", sync_batch=4, sync_steps=6,
    emergence=("--resolution", "16", "--base-channels", "8", "--channel-mult", "1,2",
               "--K", "3", "--batch", "8", "--num-train", "64", "--num-test", "16",
               "--fit-n", "16", "--steps", "3", "--minutes", "5", "--budget", "wall",
               "--eval-every", "1000", "--final-t", "30"),
    emergence_res=16,
)  # fmt: skip


class HostReads(TorchDispatchMode):
    """Counts the ops that copy a tensor's value to the host (``.item()``, ``float()``,
    ``bool()``: ``aten._local_scalar_dense``), which on CUDA wait for the device."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.n += 1
        return func(*args, **(kwargs or {}))


class Section:
    """Rows of one section, each appended to the CSV as soon as it is known, so that a section
    killed at its time limit keeps what it had measured; ``wall_s`` is the section's time so
    far."""

    def __init__(self, name: str, out: Path, device: torch.device):
        self.name, self.out, self.device = name, out, device
        self.rows: list[dict] = []
        self.t0 = time.perf_counter()
        cuda = device.type == "cuda"
        self.meta = dict(
            device_name=device_name(device),
            torch=torch.__version__,
            cuda=torch.version.cuda if cuda else "",
            commit=git_commit(),
            date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        )

    def add(self, name, metric, value=math.nan, unit="", status="ok", note=""):
        if isinstance(value, float) and not math.isnan(value):
            value = f"{value:.6g}"
        wall = f"{time.perf_counter() - self.t0:.1f}"
        row = dict(section=self.name, name=name, metric=metric, value=value, unit=unit,
                   status=status, note=note, wall_s=wall)  # fmt: skip
        self.rows.append(row)
        print(f"  {self.name}/{name} {metric} = {value} {unit} [{status}] {note}", flush=True)
        path = self.out / "gpu.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, COLUMNS)
            if new:
                w.writeheader()
            w.writerow(row | self.meta)

    def skip(self, name, why):
        self.add(name, "-", status="skipped", note=why)


def _fdiff(*args: str) -> None:
    """A verb, as a user runs it: a one-line error becomes an exception here."""
    from fdiff.cli import main

    rc = main([str(a) for a in args])
    if rc != 0:
        raise RuntimeError(f"fdiff {' '.join(map(str, args))}: exit {rc}")


# -- sections ------------------------------------------------------------------------------------
def forward(s: Section, z: Sizes, out: Path, work: Path) -> None:
    """A fixed batch through the factorized and the standard model in float32, CPU vs device."""
    from fdiff.model.build import build_model

    torch.backends.cuda.matmul.allow_tf32 = False  # a float32 comparison: no TF32 on CUDA
    torch.backends.cudnn.allow_tf32 = False
    for variant in ("factorized", "ddpm"):
        cfg = model_config(z.forward_preset, variant)
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        with torch.no_grad():  # zero-initialised heads: give every weight some signal
            for p in model.parameters():
                p.add_(0.02 * torch.randn_like(p))
        g = torch.Generator().manual_seed(1)
        res = cfg.resolution
        x = torch.rand(z.forward_batch, 3, res, res, generator=g) * 2 - 1
        t = torch.randint(0, 1000, (z.forward_batch,), generator=g)
        with torch.no_grad():
            ref = model(x, t)
            out = model.to(s.device)(x.to(s.device), t.to(s.device))
        where = "cuda" if s.device.type == "cuda" else "cpu (smoke: both on the CPU)"
        s.add(
            variant,
            "eps_max_abs_diff",
            (out.eps.cpu() - ref.eps).abs().max().item(),
            note=f"{z.forward_preset}, batch {z.forward_batch}, float32 CPU vs {where}",
        )
        if out.masks is not None:
            s.add(variant, "masks_max_abs_diff", (out.masks.cpu() - ref.masks).abs().max().item())
        del model


def _shapes(path: Path, res: int, n: int) -> Path:
    from fdiff.data.shapes import ShapesConfig, write_shapes

    write_shapes(ShapesConfig(resolution=res, num_train=n, num_val=8, num_test=16), path)
    return path


def train20(s: Section, z: Sizes, out: Path, work: Path) -> None:
    """20 training steps (bf16, channels_last, fused Adam on CUDA), then ``fdiff segment`` and
    ``fdiff sample --sampler ddim`` on the model; last (the slowest part), the same 20 steps
    under torch.compile."""
    from fdiff.config import RunConfig

    cuda = s.device.type == "cuda"
    work = work / "train20"
    data = _shapes(work / "shapes.h5", z.train_res, 256)
    if not cuda:
        s.skip("fused_adam_bf16", "CUDA only: fused Adam, bf16 autocast and channels_last are "
               "what CUDA runs; the CPU trains in float32 with unfused Adam")  # fmt: skip

    def train(name: str, compiled: bool) -> float:
        run = work / name
        cfg = RunConfig.from_dict({
            "model": {"preset": z.train_preset},
            "train": {"steps": 20, "batch_size": z.train_batch, "log_every": 10,
                      "checkpoint_every": 1000, "compile": compiled, "device": s.device.type},
        })  # fmt: skip
        (work / f"{name}.yaml").write_text(cfg.to_yaml())
        t0 = time.perf_counter()
        _fdiff("train", "--config", work / f"{name}.yaml", "--data", data, "--out", run)
        wall = time.perf_counter() - t0
        loss = float((run / "metrics.csv").read_text().split()[-1].split(",")[1])
        s.add(name, "final_loss", loss, status="ok" if math.isfinite(loss) else "failed",
              note=f"{z.train_preset}, batch {z.train_batch}, 20 steps")  # fmt: skip
        s.add(name, "wall_20_steps", wall, "s", note="fdiff train in this process, data written")
        return wall

    eager = train("eager", False)
    model = work / "eager" / "model.pt"
    _fdiff("segment", "--model", model, "--data", data, "--split", "test", "--t", "30",
           "--out", work / "masks.h5", "--device", s.device.type)  # fmt: skip
    s.add("segment", "written", 1, note="fdiff segment --t 30 on the 20-step model")
    _fdiff("sample", "--model", model, "--num", 8, "--batch-size", 8, "--sampler", "ddim",
           "--steps", 20, "--out", work / "samples.h5", "--device", s.device.type)  # fmt: skip
    s.add("sample", "written", 1, note="fdiff sample --sampler ddim --steps 20, 8 images")
    if not cuda:
        s.skip("compiled", "CUDA run only: inductor's CPU build takes minutes on a small machine")
        return
    compiled = train("compiled", True)
    s.add(
        "compiled",
        "compile_overhead",
        compiled - eager,
        "s",
        note="compiled wall minus eager wall, 20 steps each",
    )


def speed(s: Section, z: Sizes, out: Path, work: Path) -> None:
    """``fdiff bench`` sections: standard vs factorized step, segmentation, sampling."""
    cuda = s.device.type == "cuda"
    for preset, batch, sections in z.speed_presets:
        o = BenchOptions(preset=preset, device=s.device.type, batch_size=batch,
                         variants=("ddpm", "shared"), sections=sections,
                         steps=z.speed_steps, warmup=1 if not cuda else 3,
                         sample_steps=z.sample_steps, threads=None if cuda else 1)  # fmt: skip
        result = run_bench(o)
        write_csv(result, out / f"bench-{preset}.csv")
        by = {(r.section, r.name): r for r in result.rows}
        for r in result.rows:
            s.add(f"{preset}/{r.section}/{r.name}", "images_per_s", r.images_per_s, "img/s",
                  note=f"batch {r.batch_size}; {r.note}".rstrip("; "))  # fmt: skip
        shared = by.get(("train", "shared"))
        if shared:
            s.add(
                f"{preset}/train/shared",
                "time_over_flop",
                shared.time_over_flop,
                note="factorized/standard time ratio over the FLOP ratio (target <= 1.05)",
            )
            for name in ("ddpm", "shared"):
                r = by[("train", name)]
                if cuda and not math.isnan(r.peak_share):
                    s.add(f"{preset}/train/{name}", "share_of_bf16_peak", r.peak_share)
                elif not cuda:
                    s.skip(f"{preset}/train/{name}", "share of bf16 peak: CUDA only")
        if ("segment", "masks_only") in by:
            s.add(
                f"{preset}/segment/masks_only",
                "speedup",
                by[("segment", "masks_only")].speedup,
                note="images/s over the full factorized forward (target >= 3)",
            )
        ddim = next((r for r in result.rows if r.section == "sample" and "ddim" in r.name), None)
        if ddim:
            s.add(
                f"{preset}/sample/{ddim.name}",
                "speedup",
                ddim.speedup,
                note="per image over DDPM-1000 (target >= 9); " + ddim.note,
            )


def max_batch(s: Section, z: Sizes, out: Path, work: Path) -> None:
    if s.device.type != "cuda":
        s.skip("paper64", "CUDA only: the search steps up to a CUDA out-of-memory error")
        return
    from fdiff.bench.max_batch import bench_max_batch

    # factorized first: its limit is the one training needs; rows as each search ends
    for variant in ("factorized", "ddpm"):
        result = bench_max_batch(("paper64",), (variant,), "cuda", 1024, (False,))
        (r,) = result.rows
        s.add(f"{r.preset}/{r.name}", "max_batch_per_gpu", r.batch_size, "images", note=r.note)


def data(s: Section, z: Sizes, out: Path, work: Path) -> None:
    o = BenchOptions(preset=z.data_res_preset, device="cpu", sections=("data",),
                     data_workers=z.data_workers, data_seconds=z.data_seconds)  # fmt: skip
    (r,) = run_bench(o).rows
    s.add("loader", "images_per_s", r.images_per_s, "img/s", note=r.note)


def syncs(s: Section, z: Sizes, out: Path, work: Path) -> None:
    """Host syncs of the real training loop (Trainer.run), per step and between sync points."""
    from fdiff.config import RunConfig
    from fdiff.data.loader import TensorImages
    from fdiff.training.state import build_train_state
    from fdiff.training.trainer import Trainer

    cuda = s.device.type == "cuda"
    log_every = max(z.sync_steps // 2, 1)
    cfg = RunConfig.from_dict({
        "model": {"preset": z.sync_preset},
        "train": {"steps": z.sync_steps, "batch_size": z.sync_batch, "log_every": log_every,
                  "checkpoint_every": 10**6, "device": s.device.type},
    })  # fmt: skip
    res = cfg.model.resolution
    images = TensorImages(torch.rand(4 * z.sync_batch, 3, res, res) * 2 - 1)
    with tempfile.TemporaryDirectory(prefix="fdiff-syncs-") as tmp:
        state = build_train_state(cfg)
        if not cuda:  # count the path CUDA runs: fused Adam (on the CPU too since torch 2.4)
            state.opt = torch.optim.Adam(state.model.parameters(), lr=cfg.train.lr, fused=True)
        trainer = Trainer(state, images, tmp)
        step = trainer.train_step
        in_step: list[int] = []  # syncs inside train_step i
        before: list[int] = []  # syncs in the loop between step i - 1 and step i
        caught: list = []  # CUDA: the sync debug warnings so far

        def syncs_so_far() -> int:
            return sum("synchroniz" in str(w.message) for w in caught)

        def counted(x0, y):
            if cuda:
                n0 = syncs_so_far()
                before.append(n0 - (sum(in_step) + sum(before)))
                out = step(x0, y)
                in_step.append(syncs_so_far() - n0)
            else:
                with HostReads() as reads:
                    out = step(x0, y)
                in_step.append(reads.n)
            return out

        trainer.train_step = counted
        if cuda:
            torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                trainer.run()
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode(0)
    how = ("torch.cuda.set_sync_debug_mode('warn'), warnings counted"
           if cuda else "host reads (aten._local_scalar_dense: .item(), float(), bool()) "
           "inside Trainer.train_step on the CPU, with fused Adam as on CUDA")  # fmt: skip
    s.add("train_step", "syncs_per_step", sum(in_step) / len(in_step), note=how)
    s.add("train_step", "max_syncs_in_a_step", max(in_step))
    if not cuda:
        s.skip("loop", "the loop's syncs outside train_step: CUDA only (sync debug mode)")
        return
    # the loop's own work after step k (1-based) is counted before step k + 1
    sync_point = [k % log_every == 0 for k in range(1, z.sync_steps)]
    tails = before[1:]  # before[0]: start-up (data loader, first batch)
    between = sum(n for n, sp in zip(tails, sync_point, strict=True) if not sp)
    at = sum(n for n, sp in zip(tails, sync_point, strict=True) if sp)
    s.add("loop", "syncs_between_sync_points", between,
          note=f"{z.sync_steps} steps, log_every {log_every}: the loop outside train_step at "
          "steps that neither log nor checkpoint (goal 0)")  # fmt: skip
    s.add("loop", "syncs_at_sync_points", at, note="the logging reads (the last step excluded)")
    s.add(
        "loop",
        "syncs_whole_run",
        syncs_so_far(),
        note="with start-up, the final checkpoint and model.pt (their copies to the host)",
    )


def emergence(level: str, s: Section, z: Sizes, out: Path, work: Path) -> None:
    """docs/experiments/run_emergence.py on the device; the final evaluation at t = 30 against
    the centred disc and K-means on RGB of docs/experiments/results/baselines.csv (the same
    test images: the generator and its seeds are fixed)."""
    import pandas as pd

    work.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"emergence-{level}.csv"
    csv_path.unlink(missing_ok=True)  # this run's evaluations only
    saved = work / f"emergence-{level}.pt"  # and its _raw.pt beside it, left in the work folder
    args = ["--tag", f"gpu_{level}", "--difficulty", level, "--csv", str(csv_path),
            "--device", s.device.type, "--threads", "1" if s.device.type == "cpu" else "4",
            "--save", str(saved), *z.emergence]  # fmt: skip
    path = EXPERIMENTS / "run_emergence.py"
    spec = importlib.util.spec_from_file_location("run_emergence", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if script.main(args) != 0:
        raise RuntimeError(f"run_emergence.py {' '.join(args)}: failed")
    shutil.copyfile(saved, out / saved.name)  # the EMA weights (model.pt format) come back
    rows = pd.read_csv(csv_path)
    last = rows[(rows.step == rows.step.max()) & (rows.t == 30)]
    base = pd.read_csv(EXPERIMENTS / "results" / "baselines.csv")
    base = base[(base.difficulty == level) & (base.resolution == z.emergence_res)]
    disc = base[base.method.str.startswith("centred_disc")].iloc[0]
    kmeans = base[base.method == "kmeans_rgb_3"].iloc[0]
    step = int(last.step.iloc[0])
    for _, r in last.iterrows():
        for proto in ("per_image", "fixed"):
            above = r[f"iou_{proto}"] > disc[f"iou_{proto}"]
            s.add(f"{level}/{r.weights}", f"iou_{proto}", float(r[f"iou_{proto}"]),
                  note=f"step {step}, {r.train_s:.0f} s training; disc {disc[f'iou_{proto}']:.3f}"
                  f", K-means RGB {kmeans[f'iou_{proto}']:.3f}; "
                  f"{'above' if above else 'not above'} the disc")  # fmt: skip


def run_section(name: str, out: Path, work: Path, smoke: bool) -> int:
    """One section (or ``all``); ``out`` gets the CSVs and the emergence checkpoints (at most 8
    files in all, what the device tool copies back), ``work`` everything else."""
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cpu" if smoke else "cuda")
    if not smoke and not torch.cuda.is_available():
        print("bench_gpu: CUDA is not available; use --cpu-smoke", file=sys.stderr)
        return 2
    if smoke:
        torch.set_num_threads(1)
    z = SMOKE if smoke else GPU
    if name == "all":  # one process (the smoke run: start-up paid once), each section guarded
        failed = 0
        for section in SECTIONS:
            t0 = time.perf_counter()
            try:
                run_section(section, out, work, smoke)
            except Exception:  # noqa: BLE001 (its row says what failed; the next one runs)
                failed += 1
            print(f"== {section}: {time.perf_counter() - t0:.0f} s", flush=True)
        return 1 if failed else 0
    s = Section(name, out, device)
    try:
        if name not in RUNS:
            raise ValueError(f"unknown section {name!r}: expected one of {SECTIONS}")
        RUNS[name](s, z, out, work)
    except Exception as e:  # the section's failure is a row; the others still run
        s.add("-", "-", status="failed", note=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
        raise
    return 0


# every section: (its Section, the sizes, the folder that comes back, the scratch folder)
RUNS = {
    "forward": forward,
    "train20": train20,
    "speed": speed,
    "max_batch": max_batch,
    "data": data,
    "syncs": syncs,
    "emergence_medium": functools.partial(emergence, "medium"),
    "emergence_hard": functools.partial(emergence, "hard"),
}
SECTIONS = list(RUNS)


def timeout_row(out: str, name: str, limit: str, smoke: str = "") -> None:
    """The row of a section that benchmarks/gpu.sh killed at its time limit."""
    device = torch.device("cpu" if smoke else "cuda")
    s = Section(name, Path(out), device)
    s.add("-", "-", status="failed", note=f"killed at its time limit of {limit} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--section", required=True, choices=[*SECTIONS, "all"])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--work", type=Path, help="scratch files (default: OUT/work)")
    p.add_argument("--cpu-smoke", action="store_true")
    a = p.parse_args(argv)
    return run_section(a.section, a.out, a.work or a.out / "work", a.cpu_smoke)


if __name__ == "__main__":
    sys.exit(main())
