"""Stop signals recorded, not obeyed: what SLURM sends at a time limit or on preemption.

Training and the train rule's attempt both turn SIGTERM/SIGUSR1 into "finish what you are doing,
then stop cleanly", so neither may die where the signal lands. Torch-free: ``fdiff
train-attempt`` imports it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable

# SLURM sends SIGTERM at the time limit and on scancel, SIGUSR1 when asked to (--signal)
TRAIN_STOP = (signal.SIGTERM, signal.SIGUSR1)
# the attempt also outlives a Ctrl-C, so that training's own checkpoint decides the verdict
ATTEMPT_STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


def ignore(signals=TRAIN_STOP) -> None:
    for s in signals:
        signal.signal(s, signal.SIG_IGN)


class SignalRecorder:
    """While entered, ``signals`` only set :attr:`signum` (the last one received).

    ``on_first``: called once, with the signal, at the first one. ``ignore_after``: on leaving,
    ignore the signals instead of restoring the old handlers (for a process whose verdict is
    settled when it leaves: a signal during its exit must not turn it into a kill).
    """

    def __init__(
        self,
        signals=TRAIN_STOP,
        on_first: Callable[[int], None] | None = None,
        ignore_after: bool = False,
    ):
        self.signals, self.on_first, self.ignore_after = tuple(signals), on_first, ignore_after
        self.signum: int | None = None
        self._old: dict = {}

    def __enter__(self) -> SignalRecorder:
        with contextlib.suppress(ValueError):  # not the main thread: no handlers can be set
            for s in self.signals:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    def _handle(self, signum, frame) -> None:
        first = self.signum is None
        self.signum = signum
        if first and self.on_first is not None:
            self.on_first(signum)

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, signal.SIG_IGN if self.ignore_after else h)
