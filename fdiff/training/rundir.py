"""The run directory's state files, named and parsed in one place (torch-free).

Training (fdiff.training.trainer), the train rule's attempt logic and ``fdiff status`` all read or
write these; nothing else spells their names or formats.

``RUN_DIR/``
  ``run.yaml``            the run config the workflow gives ``fdiff train`` (its run_config rule)
  ``model.pt``            the finished model, written last by ``fdiff train``
  ``checkpoints/last.pt`` the latest training state (periodic, or on a signal)
  ``metrics.csv``         one row per logged step
  ``.preempted``          the step of the checkpoint saved on a signal (rank 0, after the save)
  ``.complete``           the last attempt finished
  ``.failed``             the exit status of an attempt that failed for another reason
  ``.inputs``             the fingerprint of the inputs the checkpoints were trained on
  ``attempts.log``        one line per attempt: ``attempt=N host=H job=J VERDICT step=S``;
                          N counts the attempts of the current run (1: a new run, a new
                          Snakemake invocation, or new inputs), so that retries are counted
                          across SLURM requeues, which Snakemake's attempt number does not see
  ``tensorboard/``        TensorBoard event files of every attempt (fdiff.training.tblog)
  ``samples/``            training's periodic sample grids (``step_NNNNNNN.png``); the sample
                          shards' parts while they are drawn
  ``superseded/WHEN-FP/`` the checkpoints, metrics, config, event files and attempts of a run
                          whose inputs then changed (FP: the first 12 characters of its
                          ``.inputs``)
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: checkpoint saved after SIGTERM/SIGUSR1, rerun to resume
PREEMPTED = ".preempted"
COMPLETE = ".complete"
FAILED = ".failed"
INPUTS = ".inputs"
ATTEMPTS = "attempts.log"
RUN_CONFIG = "run.yaml"
MODEL = "model.pt"
METRICS = "metrics.csv"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
LAST_CHECKPOINT = "checkpoints/last.pt"
TRAINED_CONFIG = "config.yaml"  # the config fdiff train ran with (written by training)
SUPERSEDED = "superseded"
# what belongs to one run of one set of inputs: moved aside together when the inputs change
RUN_STATE = (
    CHECKPOINTS, METRICS, TRAINED_CONFIG, TENSORBOARD, ATTEMPTS, COMPLETE, FAILED, PREEMPTED,
    INPUTS,
)  # fmt: skip

VERDICTS = ("complete", "preempted", "failed")
_LINE = re.compile(
    r"^attempt=(?P<number>\d+) host=(?P<host>\S+) job=(?P<job>\S+) "
    r"(?P<verdict>complete|preempted|failed) step=(?P<step>\S+)(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Attempt:
    """One line of attempts.log. ``step``: ``done`` (complete), the marker's step or ``none``
    (preempted), ``exit-N`` (failed)."""

    number: int
    host: str
    job: str
    verdict: str
    step: str

    def line(self) -> str:
        return (
            f"attempt={self.number} host={self.host} job={self.job} {self.verdict} step={self.step}"
        )


def parse_attempt(line: str) -> Attempt | None:
    """An attempts.log line as an :class:`Attempt`; None for a line of another form."""
    m = _LINE.match(line.strip())
    if m is None:
        return None
    return Attempt(int(m["number"]), m["host"], m["job"], m["verdict"], m["step"])


def complete_lines(path: str | Path) -> list[str]:
    """The lines of a file that another process may be appending to: a last line without its
    newline (being written) is left out; a missing file has none."""
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return lines[:-1]  # the text after the last newline: empty, or a line not yet finished


def read_attempts(run_dir: str | Path) -> list[Attempt]:
    """Every well-formed, finished line of RUN_DIR/attempts.log (none if the file is missing)."""
    lines = complete_lines(Path(run_dir) / ATTEMPTS)
    return [a for a in map(parse_attempt, lines) if a is not None]


def read_metrics(run_dir: str | Path) -> list[dict[str, str]]:
    """The finished rows of RUN_DIR/metrics.csv as {column: text} (training may be writing)."""
    lines = complete_lines(Path(run_dir) / METRICS)
    if not lines:
        return []
    return list(csv.DictReader(lines))


def append_attempt(run_dir: str | Path, attempt: Attempt) -> None:
    """Add one line to RUN_DIR/attempts.log (appended: the log outlives every attempt)."""
    with open(Path(run_dir) / ATTEMPTS, "a") as f:
        f.write(attempt.line() + "\n")


def read_preempted(run_dir: str | Path) -> int | None:
    """The step in RUN_DIR/.preempted, or None when there is no (readable) marker."""
    try:
        return int((Path(run_dir) / PREEMPTED).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def last_attempt(run_dir: str | Path) -> Attempt | None:
    """The last line of RUN_DIR/attempts.log, or None."""
    attempts = read_attempts(run_dir)
    return attempts[-1] if attempts else None


def read_failed(run_dir: str | Path) -> str | None:
    """The exit status in RUN_DIR/.failed, or None when the last attempt did not fail."""
    try:
        return (Path(run_dir) / FAILED).read_text().strip() or "?"
    except FileNotFoundError:
        return None


def inputs_fingerprint(config: str | Path, data: str | Path) -> str:
    """What ``.inputs`` holds: the sha256 of the run config, then the data file's size and
    mtime in whole seconds (the format the train rule's shell wrote, so that runs finished
    before fdiff took the attempt logic over are recognised as the same inputs)."""
    import hashlib

    sha = hashlib.sha256(Path(config).read_bytes()).hexdigest()
    st = Path(data).stat()
    return f"{sha} {st.st_size} {int(st.st_mtime)}"


def read_inputs(run_dir: str | Path) -> str | None:
    """The fingerprint in RUN_DIR/.inputs, or None."""
    try:
        return (Path(run_dir) / INPUTS).read_text().strip()
    except FileNotFoundError:
        return None


def superseded_name(fingerprint: str, when: str) -> str:
    """The folder (under RUN_DIR/superseded) of a run whose inputs changed: ``WHEN-FP``."""
    return f"{when}-{fingerprint.split()[0][:12] if fingerprint else 'unknown'}"
