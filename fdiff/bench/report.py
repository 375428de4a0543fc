"""The output of ``fdiff bench``: the rows, the printed table, the targets, the CSV."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field, fields

from fdiff.io import atomic_path

# The bench's rows and sections (here, torch-free, so that the CLI parser does not import
# torch). (row name, arch variant of fdiff.config.ARCH_VARIANTS, looped reference)
TRAIN_VARIANTS: list[tuple[str, str, bool]] = [
    ("ddpm", "ddpm", False),
    ("shared", "factorized", False),
    ("shared-looped", "factorized", True),
    ("unshared", "unshared", False),
    ("concat", "concat", False),
    ("mask_hmid", "mask_hmid", False),
]
SECTIONS = ("train", "segment", "sample", "data")

# The performance targets on the 64 px paper preset (docs/performance.md; reported, never
# asserted).
TARGET_TIME_OVER_FLOP = 1.05  # factorized/standard step-time ratio <= 1.05x the FLOP ratio
TARGET_PEAK_SHARE = 0.40  # training step at >= 40% of the bf16 dense peak
TARGET_SEGMENT_SPEEDUP = 3.0  # masks-only images/s >= 3x the full factorized forward
TARGET_DDIM_SPEEDUP = 9.0  # DDIM-100 >= 9x DDPM-1000 per sample


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
    """The performance targets against the figures (informative: met, missed and by how
    much).

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
