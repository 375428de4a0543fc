"""Refuse, before anything is submitted, a SLURM partition whose preemption fdiff cannot survive.

Under PreemptMode=REQUEUE a preempted job gets SIGTERM, checkpoints, and SLURM requeues the
same job: training resumes (fdiff.training.attempt counts it). Under CANCEL the job is killed for
good, and snakemake-executor-plugin-slurm 2.8.0 counts its PREEMPTED state as running and polls it
forever (docs/workflow.md): the workflow would hang. So a partition that the jobs go to and that
preempts with CANCEL is refused with one line naming it. SUSPEND (with GANG) is let through with
a one-line caution: the job is frozen in place and resumed, and the executor follows it
(docs/workflow.md, measured on the fixture with a one-rule job), but a multi-node training
frozen past its process group's collective timeout fails when it wakes, and a failure is not
retried (untested). The cluster's word is read from
`scontrol show partition -o` (each partition's effective PreemptMode, the cluster default
included); without scontrol, or when it cannot reach a controller, nothing is checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable

from fdiff.errors import FdiffError

UNSUPPORTED = ("CANCEL",)
UNTESTED = ("SUSPEND",)  # GANG alone is time slicing, the same freeze without a preemptor
_FIELD = re.compile(r"(\w+)=(\S*)")


def parse_partitions(text: str) -> dict[str, dict[str, str]]:
    """`scontrol show partition -o` output: partition name -> its fields (one line each)."""
    out = {}
    for line in text.splitlines():
        fields = dict(_FIELD.findall(line))
        if "PartitionName" in fields:
            out[fields["PartitionName"]] = fields
    return out


def _in_mode(
    partitions: dict[str, dict[str, str]], names: Iterable[str | None], kinds: tuple[str, ...]
) -> dict[str, str]:
    """Partition -> its mode, for each of `names` (None: the default partition) whose
    PreemptMode includes one of `kinds`."""
    default = [p for p, f in partitions.items() if f.get("Default") == "YES"]
    found = {}
    for name in dict.fromkeys(names):
        for part in [name] if name else default:
            modes = partitions.get(part, {}).get("PreemptMode", "OFF").upper().split(",")
            for mode in modes:
                if mode in kinds:
                    found[part] = mode
    return found


def refusal(partitions: dict[str, dict[str, str]], names: Iterable[str | None]) -> str | None:
    """The one-line refusal naming each of `names` (None: the default partition) that
    preempts in a mode fdiff cannot support, or None."""
    bad = _in_mode(partitions, names, UNSUPPORTED)
    if not bad:
        return None
    which = ", ".join(f"{p!r} (PreemptMode={m})" for p, m in bad.items())
    subject = (
        f"SLURM partitions {which} preempt" if len(bad) > 1 else f"SLURM partition {which} preempts"
    )
    return (
        f"{subject} by cancelling jobs, which fdiff cannot support (a cancelled job is lost and "
        "the SLURM executor polls it forever): ask for PreemptMode=REQUEUE there, or use a "
        "partition without preemption (PreemptMode=OFF)"
    )


def caution(partitions: dict[str, dict[str, str]], names: Iterable[str | None]) -> str | None:
    """The one-line caution naming each of `names` that preempts by suspending, or None."""
    frozen = _in_mode(partitions, names, UNTESTED)
    if not frozen:
        return None
    which = ", ".join(f"{p!r} (PreemptMode={m})" for p, m in frozen.items())
    return (
        f"SLURM {which} preempts by suspending jobs: a multi-node training frozen longer than "
        "its collective timeout (torch's default: 10 min with NCCL) fails when it wakes, and "
        "fdiff does not retry a failure; PreemptMode=REQUEUE is the tested mode"
    )


def check_partitions(names: Iterable[str | None]) -> str | None:
    """Raise FdiffError if a partition of `names` preempts with CANCEL; return a caution if
    one suspends, else None. No SLURM: no check."""
    names = list(names)
    # not the SLURM profile, or no SLURM: ask nothing (an unreachable controller costs scontrol
    # about 9 s before it gives up, at every parse)
    if not names or shutil.which("scontrol") is None:
        return None
    try:
        r = subprocess.run(
            ["scontrol", "show", "partition", "-o"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:  # no controller reachable: not a SLURM cluster's login node
        return None
    partitions = parse_partitions(r.stdout)
    message = refusal(partitions, names)
    if message:
        raise FdiffError(message)
    return caution(partitions, names)
