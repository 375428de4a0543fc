"""Progress of long loops: a tqdm bar in a terminal, plain dated lines in a log file.

A tqdm bar redraws with ``\\r`` every few seconds: in a SLURM log (a file) a 24 h attempt
becomes one line of tens of thousands of redraws that ``less``, ``tail`` and web log viewers
cannot show. When stderr is not a terminal, :func:`progress` logs instead one line every
``every`` seconds through :mod:`logging` (whose format carries the date and time): count and
total, the caller's fields (loss, images/s, GPU memory, ...), rate, time per item, elapsed time
and the ETA to the last item, with its clock time.

The interval: ``fdiff --progress-every SECONDS``, else ``$FDIFF_PROGRESS_EVERY``, else 60 s;
0 logs every update (tests).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from fdiff.errors import FdiffError

log = logging.getLogger("fdiff.progress")

ENV = "FDIFF_PROGRESS_EVERY"
DEFAULT_EVERY = 60.0
_every_override: float | None = None


def set_every(seconds: float | None) -> None:
    """The interval of the file lines for this process (``fdiff --progress-every``)."""
    global _every_override
    if seconds is not None and seconds < 0:
        raise FdiffError(f"progress interval {seconds}: expected seconds >= 0")
    _every_override = seconds


def every() -> float:
    """Seconds between two file lines: the override, else $FDIFF_PROGRESS_EVERY, else 60."""
    if _every_override is not None:
        return _every_override
    raw = os.environ.get(ENV)
    if raw is None:
        return DEFAULT_EVERY
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise FdiffError(f"${ENV} = {raw!r}: expected a number of seconds >= 0")
    return value


def duration(seconds: float) -> str:
    """``3d 04:05:06`` / ``04:05:06``: an ETA or elapsed time in a log line."""
    s = int(round(max(seconds, 0.0)))
    days, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}d {text}" if days else text


def _value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class LineProgress:
    """The file form of a bar: tqdm's update / set_postfix / close, logged as lines.

    A line is logged at the first update after ``every`` seconds since the last one; closing a
    loop that logged at least one line logs a last one (a short loop stays silent)."""

    def __init__(self, iterable=None, total=None, desc="", unit="it", initial=0, every_s=None):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable) + initial
        self.total, self.desc, self.unit = total, desc, unit
        self.n = initial
        self.every = every() if every_s is None else every_s
        self.postfix: dict[str, Any] = {}
        self.t_start = self.t_last = time.time()
        self.n_last = initial
        self.initial = initial
        self.lines = 0
        self.closed = False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return self.total or 0

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs) -> None:
        self.postfix.update(ordered_dict or {}, **kwargs)

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.time() - self.t_last >= self.every:
            self._line()

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.lines and self.n != self.n_last:
            self._line()

    def line(self) -> str:
        """The line for the progress so far (rate over the span since the previous line)."""
        now = time.time()
        span, done = now - self.t_last, self.n - self.n_last
        if done <= 0 or span <= 0:  # nothing new: the run's mean rate
            span, done = now - self.t_start, self.n - self.initial
        rate = done / span if span > 0 and done > 0 else 0.0
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total}" if self.total else "")]
        if self.total:
            parts[0] += f" {self.unit}s ({100 * self.n / self.total:.1f}%)"
        parts += [f"{k} {_value(v)}" for k, v in self.postfix.items()]
        if rate > 0:
            parts.append(f"{rate:.3g} {self.unit}/s, {1 / rate:.3g} s/{self.unit}")
        parts.append(f"elapsed {duration(now - self.t_start)}")
        if self.total and rate > 0 and self.n < self.total:
            left = (self.total - self.n) / rate
            end = datetime.now() + timedelta(seconds=left)
            parts.append(f"ETA {duration(left)} ({end:%Y-%m-%d %H:%M})")
        return " | ".join(parts)

    def _line(self) -> None:
        log.info("%s", self.line())
        self.lines += 1
        self.t_last, self.n_last = time.time(), self.n


def is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stderr
        return False


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    leave: bool = True,
    disable: bool = False,
    **tqdm_kwargs,
):
    """A tqdm bar when stderr is a terminal, else a :class:`LineProgress`; nothing when
    ``disable``. Used like tqdm: iterate over it, or ``update`` / ``set_postfix`` / ``close``
    (also as a context manager)."""
    if disable:  # silent: a line never falls due
        return LineProgress(iterable, total, desc, unit, initial, every_s=float("inf"))
    if not is_terminal():
        return LineProgress(iterable, total, desc, unit, initial)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                dynamic_ncols=True, **tqdm_kwargs)  # fmt: skip
