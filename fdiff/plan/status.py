"""Where a plan stands: every run directory of a results directory, from the files that training
and the workflow's rules already write (``fdiff status RESULTS_DIR``).

Read while jobs run, on a shared file system, without SLURM and without torch: a line being
appended is skipped (fdiff.training.rundir reads only finished lines), a YAML file being rewritten
reads as unknown, and nothing is locked or written.

A run directory is a directory that holds any of ``run.yaml``, ``config.yaml``,
``metrics.csv``, ``checkpoints/``, ``model.pt`` or ``attempts.log`` (docs/workflow.md, "Where
results land"): ``{exp}/{arch}/``, ``{exp}/pretrained/`` and ``supervised/{data}-{res}/``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fdiff.errors import FdiffError
from fdiff.progress import duration
from fdiff.training import rundir

RUN_FILES = (
    rundir.RUN_CONFIG,
    "config.yaml",
    rundir.METRICS,
    rundir.CHECKPOINTS,
    rundir.MODEL,
    rundir.ATTEMPTS,
)
# never run directories, and some (raw downloads) large: not walked
SKIP = {"raw", "data", "logs", "benchmarks", "tables", "figures", "cache", ".snakemake",
        rundir.CHECKPOINTS, rundir.TENSORBOARD, "samples", "seg"}  # fmt: skip
MAX_DEPTH = 3


@dataclass
class RunStatus:
    """One run directory. ``state``: done (model.pt), failed (.failed), preempted (.preempted:
    waiting for its resubmission), started (training files, no verdict: running, or killed),
    not started."""

    run: str
    experiment: str
    arch: str
    state: str
    step: int | None = None
    steps: int | None = None
    loss: float | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    attempts: int = 0
    preemptions: int = 0
    last_attempt: str | None = None
    why: str | None = None
    model: bool = False
    updated_s: float | None = None
    shards: int = 0
    shards_in_progress: int = 0
    samples: bool = False


@dataclass
class PlanStatus:
    results: str
    runs: list[RunStatus] = field(default_factory=list)
    tables: int = 0
    figures: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _yaml(path: Path) -> dict:
    try:
        d = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return d if isinstance(d, dict) else {}


def _number(text: str | None) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _train_section(rd: Path) -> dict:
    """The run's train settings: config.yaml (as resolved by fdiff train), else run.yaml."""
    for name in (rundir.TRAINED_CONFIG, rundir.RUN_CONFIG):
        train = _yaml(rd / name).get("train")
        if isinstance(train, dict) and "steps" in train:
            return train
    return {}


def _why(results: Path, rd: Path, attempt: rundir.Attempt) -> str | None:
    """A failed attempt's reason: the last line of its kept log that says error."""
    log = results / "logs" / "train" / f"{rd.parent.name}-{rd.name}.log.attempt-{attempt.number}"
    lines = [ln.strip() for ln in rundir.complete_lines(log) if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or [None])[-1]


def _age(rd: Path, now: float) -> float | None:
    times = []
    for name in (rundir.METRICS, rundir.ATTEMPTS, rundir.PREEMPTED, rundir.MODEL):
        with contextlib.suppress(OSError):  # not there (yet)
            times.append((rd / name).stat().st_mtime)
    return now - max(times) if times else None


def run_status(results: Path, rd: Path, now: float | None = None) -> RunStatus:
    """The status of one run directory."""
    now = time.time() if now is None else now
    experiment, arch = rd.parent.name, rd.name
    if experiment == "supervised":  # supervised/{data}-{res}: the supervised U-Net
        experiment, arch = rd.name, "supervised"
    train = _train_section(rd)
    steps = train.get("steps") if isinstance(train.get("steps"), int) else None
    batch = train.get("batch_size") if isinstance(train.get("batch_size"), int) else None
    rows = rundir.read_metrics(rd)
    last = rows[-1] if rows else {}
    step = _number(last.get("step"))
    step = int(step) if step is not None else None
    marker = rundir.read_preempted(rd)
    if marker is not None:
        step = max(step or 0, marker)
    model = (rd / rundir.MODEL).is_file()
    attempts = rundir.read_attempts(rd)
    if model:
        state = "done"
        step = steps if steps is not None else step
    elif (rd / rundir.FAILED).exists():
        state = "failed"
    elif (rd / rundir.PREEMPTED).exists():
        state = "preempted"
    elif rows or (rd / rundir.CHECKPOINTS).is_dir() or attempts:
        state = "started"
    else:
        state = "not started"
    rate = _number(last.get("images_per_s"))
    eta = None
    if state not in ("done", "failed") and None not in (rate, batch, steps, step) and rate > 0:
        eta = (steps - step) * batch / rate
    samples_dir = rd / "samples"
    shards = shards_in_progress = 0
    if samples_dir.is_dir():
        shards = len(list(samples_dir.glob("shard-*.h5")))
        shards_in_progress = len(list(samples_dir.glob(".shard-*.h5.parts")))
    last_attempt = attempts[-1] if attempts else None
    return RunStatus(
        run=str(rd.relative_to(results)),
        experiment=experiment,
        arch=arch,
        state=state,
        step=step,
        steps=steps,
        loss=_number(last.get("loss")),
        images_per_s=rate,
        eta_s=eta,
        attempts=len(attempts),
        preemptions=sum(a.verdict == "preempted" for a in attempts),
        last_attempt=f"{last_attempt.verdict} step={last_attempt.step}" if last_attempt else None,
        why=_why(results, rd, last_attempt)
        if last_attempt and last_attempt.verdict == "failed"
        else None,
        model=model,
        updated_s=_age(rd, now),
        shards=shards,
        shards_in_progress=shards_in_progress,
        samples=(rd / "samples.h5").is_file(),
    )


def run_dirs(results: Path) -> list[Path]:
    """Every run directory under ``results`` (at most MAX_DEPTH levels down), sorted."""
    found = []
    for top, dirs, files in os.walk(results):
        depth = len(Path(top).relative_to(results).parts)
        names = set(dirs) | set(files)
        if depth > 0 and any(n in names for n in RUN_FILES):
            found.append(Path(top))
            dirs[:] = []
            continue
        dirs[:] = [] if depth >= MAX_DEPTH else sorted(d for d in dirs if d not in SKIP)
    return sorted(found)


def plan_status(results: str | Path, now: float | None = None) -> PlanStatus:
    results = Path(results)
    if not results.is_dir():
        raise FdiffError(f"{results}: no such results directory")
    now = time.time() if now is None else now
    status = PlanStatus(str(results), [run_status(results, rd, now) for rd in run_dirs(results)])
    status.tables = len(list((results / "tables").glob("table*.csv")))
    status.figures = len(list((results / "figures").glob("*.png")))
    return status


COLUMNS = ("experiment", "arch", "state", "step", "loss", "img/s", "ETA", "attempts",
           "preempted", "last attempt", "model.pt", "updated", "shards")  # fmt: skip


def _cells(r: RunStatus) -> list[str]:
    step = "-" if r.step is None else str(r.step)
    if r.steps is not None:
        step += f"/{r.steps}"
    shards = f"{r.shards}" + (f" (+{r.shards_in_progress})" if r.shards_in_progress else "")
    if r.samples:
        shards += " gathered" if r.shards == 0 else ", gathered"
    return [
        r.experiment,
        r.arch,
        r.state,
        step,
        "-" if r.loss is None else f"{r.loss:.4g}",
        "-" if r.images_per_s is None else f"{r.images_per_s:.3g}",
        "-" if r.eta_s is None else duration(r.eta_s),
        str(r.attempts),
        str(r.preemptions),
        r.last_attempt or "-",
        "yes" if r.model else "no",
        "-" if r.updated_s is None else f"{duration(r.updated_s)} ago",
        shards,
    ]


def table(status: PlanStatus) -> str:
    """The plan as a text table, one row per run, then the counts and the failures' reasons."""
    rows = [list(COLUMNS)] + [_cells(r) for r in status.runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    counts: dict[str, int] = {}
    for r in status.runs:
        counts[r.state] = counts.get(r.state, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    lines.append("")
    lines.append(
        f"{len(status.runs)} runs ({summary or 'none'}); "
        f"{sum(r.shards for r in status.runs)} sample shards written, "
        f"{sum(r.shards_in_progress for r in status.runs)} in progress, "
        f"{sum(r.samples for r in status.runs)} sample sets gathered; "
        f"{status.tables} tables, {status.figures} figures"
    )
    lines += [f"failed: {r.run}: {r.why}" for r in status.runs if r.why]
    return "\n".join(lines)
