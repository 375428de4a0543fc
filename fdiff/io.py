"""Atomic file writes: nothing already written is lost or left half-written.

Every output (checkpoint, HDF5 file, CSV, JSON) is written to a temporary name in the same
directory, flushed to disk, then renamed over the target. A crash leaves either the old file or
the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file is fsynced before the rename and removed if the block raises.
    ``suffix`` defaults to the target's suffix so that libraries that look at it still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json_object(path: str | os.PathLike, expected: str = "a JSON object") -> dict:
    """The JSON object in ``path``; anything else (unreadable, not JSON, not an object) is a
    one-line FdiffError naming the file and what was expected."""
    from fdiff.errors import FdiffError

    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise FdiffError(f"{path}: cannot read {expected} ({e})") from None
    if not isinstance(obj, dict):
        raise FdiffError(f"{path}: expected {expected}, found a JSON {type(obj).__name__}")
    return obj
