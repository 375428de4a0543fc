"""What reruns after a finished run, as the workflow tests check it (tests/workflow,
tests/rehearsal): a text-only upgrade of the workflow, and the jobs of a dry run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Jobs that run a model (or train one): what an upgrade must never plan again.
MODEL_RULES = {
    "train", "train_supervised", "sample_shard", "sample", "sample_figure", "segment",
    "segment_supervised", "tsweep", "interpolate", "baseline_kmeans", "baseline_kmeans_samples",
    "consistency", "fid",
}  # fmt: skip


def upgraded_copy(dest: Path) -> tuple[Path, int]:
    """A copy of the workflow whose every `shell:` block starts with the no-op `: upgraded;`
    (the rule text changed, nothing it computes): its Snakefile, and the blocks changed."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "envs", "config", "profiles"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, dirs_exist_ok=True)
        else:
            shutil.copy(src, dest / name)
    changed = 0
    for f in [dest / "Snakefile", *(dest / "workflow/rules").glob("*.smk")]:
        text, n = re.subn(r'(\n\s+shell:\s*\n\s+f?)("""|")', r"\1\2: upgraded; ", f.read_text())
        f.write_text(text)
        changed += n
    return dest / "Snakefile", changed


def planned_jobs(out: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job of a dry run's output."""
    found = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", out):
        m = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if m:
            wc = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            found.append((m.group(1), wc.group(1) if wc else ""))
    return found
