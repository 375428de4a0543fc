"""Argument types of the verbs: every number and path is checked while the command line is
parsed, so a bad value is refused in one line (exit status 2) before anything is read or written.

argparse reports a type's ``ArgumentTypeError`` as ``argument --flag: message``: the flag is
named by argparse, the message says what was expected. Each type carries ``kind`` (number,
input, output) so that the tests can find and drive every one of them.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

Bad = argparse.ArgumentTypeError


def _typed(kind: str, name: str, fn: Callable, **meta) -> Callable:
    fn.kind, fn.__name__ = kind, name  # argparse names the type in "invalid X value" errors
    for k, v in meta.items():
        setattr(fn, k, v)
    return fn


def integer(lo: int = 0, hi: int | None = None) -> Callable[[str], int]:
    """An integer in [lo, hi] (hi: no upper bound when None)."""
    want = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise Bad(f"{text!r}: expected {want}") from None
        if v < lo or (hi is not None and v > hi):
            raise Bad(f"{v}: expected {want}")
        return v

    return _typed("number", want, parse, lo=lo, hi=hi, integral=True)


def real(lo: float, hi: float | None = None, lo_open: bool = False, hi_open: bool = False):
    """A finite float in the interval lo..hi (open or closed at each end)."""
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    want = f"a number in {left}{lo}, {'inf' if hi is None else hi}{right}"

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise Bad(f"{text!r}: expected {want}") from None
        too_low = v <= lo if lo_open else v < lo
        too_high = hi is not None and (v >= hi if hi_open else v > hi)
        if not math.isfinite(v) or too_low or too_high:
            raise Bad(f"{text}: expected {want}")
        return v

    return _typed("number", want, parse, lo=lo, hi=hi, integral=False)


def _nonempty(text: str) -> Path:
    if not text.strip():
        raise Bad("an empty path: expected a file name")
    return Path(text)


def input_file(text: str) -> Path:
    """An existing file (an HDF5, a model, a CSV)."""
    path = _nonempty(text)
    if path.is_dir():
        raise Bad(f"{path} is a directory: expected a file")
    if not path.is_file():
        raise Bad(f"{path}: no such file")
    return path


def input_dir(text: str) -> Path:
    """An existing directory."""
    path = _nonempty(text)
    if not path.is_dir():
        raise Bad(f"{path}: no such directory")
    return path


def output_path(text: str) -> Path:
    """A file or a directory to write (``fetch-inception --dest``): nothing above it is a file."""
    path = _nonempty(text)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise Bad(f"{path}: {parent} is a file, not a directory")
            break
    return path


def output_file(text: str) -> Path:
    """A file to write: not an existing directory."""
    path = output_path(text)
    if path.is_dir():
        raise Bad(f"{path} is a directory: expected a file to write")
    return path


def output_dir(text: str) -> Path:
    """A directory to write into (made if missing): not an existing file."""
    path = output_path(text)
    if path.exists() and not path.is_dir():
        raise Bad(f"{path} is a file: expected a directory")
    return path


_typed("input", "an existing file", input_file)
_typed("input", "an existing directory", input_dir)
_typed("output", "a file to write", output_file)
_typed("output", "a directory to write", output_dir)
_typed("output", "a path to write", output_path)

# The numbers the verbs share, by meaning.
COUNT = integer(1)  # images, steps, a batch: at least one
NATURAL = integer(0)  # an index, a seed, a worker count, "0: all"
SEED = integer(0, 2**63 - 1)
REGIONS = integer(2, 255)  # K masks or clusters: region maps are uint8
RESOLUTION = integer(8)
FRACTION = real(0.0, 1.0, hi_open=True)
MARGIN = real(0.0, 0.5, hi_open=True)  # of each side: two margins must leave a rectangle
LEARNING_RATE = real(0.0, lo_open=True)
SECONDS = real(0.0, lo_open=True)
