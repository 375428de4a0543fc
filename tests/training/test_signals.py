"""The stop-signal recorder (fdiff.training.signals) shared by training and the train rule's
attempt: real signals sent to this process."""

from __future__ import annotations

import os
import signal

from fdiff.training.signals import ATTEMPT_STOP, TRAIN_STOP, SignalRecorder


def test_signals_are_recorded_and_the_handlers_restored():
    before = {s: signal.getsignal(s) for s in ATTEMPT_STOP}
    seen = []
    with SignalRecorder(ATTEMPT_STOP, on_first=seen.append) as stop:
        assert not stop
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop and stop.name == "SIGTERM"  # the last one received
    assert seen == [signal.SIGUSR1]  # the first one only
    assert {s: signal.getsignal(s) for s in ATTEMPT_STOP} == before


def test_ignore_after_leaves_the_signals_ignored():
    before = {s: signal.getsignal(s) for s in TRAIN_STOP}
    try:
        with SignalRecorder(TRAIN_STOP, ignore_after=True):
            pass
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in TRAIN_STOP)
        os.kill(os.getpid(), signal.SIGTERM)  # ignored: the test process lives on
    finally:
        for s, h in before.items():
            signal.signal(s, h)
