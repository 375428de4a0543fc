"""All-or-nothing extraction of tar / tar.gz / zip archives.

An archive is unpacked into a hidden temporary directory beside its destination; only when
every member was read and the expected top-level entries are present are those entries moved
into place and a marker ``.<archive>.extracted`` written. A truncated or corrupt archive, or
one with an unexpected layout, fails with one line naming the archive and leaves nothing
half-extracted. Tar members go through the ``data`` filter (no absolute paths, no links out
of the tree).
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

from fdiff.errors import FdiffError

log = logging.getLogger(__name__)


def _marker(archive: Path, dest: Path) -> Path:
    return dest / f".{archive.name}.extracted"


def is_extracted(archive: Path, dest: Path, provides: tuple[str, ...]) -> bool:
    """True when ``archive`` was fully unpacked into ``dest`` earlier."""
    return _marker(archive, dest).exists() and all((dest / p).exists() for p in provides)


def extract(archive: str | Path, dest: str | Path, provides: tuple[str, ...] = ()) -> None:
    """Unpack ``archive`` into ``dest``; ``provides`` lists top-level entries it must yield."""
    archive, dest = Path(archive), Path(dest)
    if is_extracted(archive, dest, provides):
        return
    if not archive.is_file():
        raise FdiffError(f"{archive}: archive not found")
    log.info("extracting %s", archive)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as z:
                    bad = z.testzip()
                    if bad is not None:
                        raise zipfile.BadZipFile(f"bad CRC in member {bad}")
                    z.extractall(tmp)
            else:
                with tarfile.open(archive, "r:*") as t:
                    t.extractall(tmp, filter="data")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
            raise FdiffError(
                f"{archive}: truncated or corrupt archive ({type(e).__name__}: {e}); delete it "
                "and download it again"
            ) from None
        found = sorted(p.name for p in tmp.iterdir())
        for p in provides:
            if not (tmp / p).exists():
                raise FdiffError(
                    f"{archive}: unexpected layout: expected top-level entry {p!r}, found "
                    f"{found[:10]}"
                )
        for name in found:
            target = dest / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # left by an earlier extraction that did not finish
            elif target.exists() or target.is_symlink():
                target.unlink()
            (tmp / name).rename(target)
        _marker(archive, dest).write_text("ok\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
