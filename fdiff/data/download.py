"""Resumable, checksum-verified downloads (urllib, streamed, with progress (fdiff.progress)).

:func:`fetch` downloads a URL to ``NAME.part`` beside the target, resuming an earlier partial
download with an HTTP ``Range`` request (and starting over when the server ignores it),
verifies the md5 / sha256 and size, then renames ``NAME.part`` to ``NAME``. A checksum
mismatch removes the file and fails with the expected and the actual sum; an interrupted
transfer keeps ``NAME.part`` so that the next run resumes.

:func:`download_dataset` fetches every file of a registry entry into a directory, unpacks the
archives (:mod:`fdiff.data.archives`) and records the checksums it saw in
``DEST/.fdiff-sources.json`` for the provenance of the prepared HDF5 file.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from fdiff import __version__
from fdiff.data.archives import extract
from fdiff.data.registry import DatasetSource, Registry, RemoteFile
from fdiff.errors import FdiffError
from fdiff.io import write_json
from fdiff.progress import progress as pbar

log = logging.getLogger(__name__)

BLOCK = 1 << 20
SOURCES_FILE = ".fdiff-sources.json"


def file_digests(path: Path, algorithms: tuple[str, ...] = ("md5",)) -> dict[str, str]:
    """Hex digests of a file, read once in 1 MiB blocks."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def verify(path: Path, f: RemoteFile, label: Path | None = None) -> str:
    """Check ``path`` against the size and checksums of ``f``; return ``"md5:<hex>"``.

    Raises FdiffError naming the file (``label``, default ``path``) with the expected and the
    actual value on a mismatch. A file without a published checksum passes with a warning.
    """
    label = label or path
    if f.size is not None and path.stat().st_size != f.size:
        raise FdiffError(
            f"{label}: size mismatch: expected {f.size} bytes, got {path.stat().st_size}"
        )
    algos = ("md5", "sha256") if f.sha256 else ("md5",)
    got = file_digests(path, algos)
    for algo, expected in (("md5", f.md5), ("sha256", f.sha256)):
        if expected and got[algo] != expected.lower():
            raise FdiffError(f"{label}: {algo} mismatch: expected {expected}, got {got[algo]}")
    if not (f.md5 or f.sha256):
        log.warning(
            "%s: no published checksum (%s); received md5 %s, recorded as unverified",
            f.name,
            f.note or "none in the registry",
            got["md5"],
        )
        return f"md5:{got['md5']} (unverified)"
    return f"md5:{got['md5']}"


def _open(url: str, offset: int):
    headers = {"User-Agent": f"fdiff/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            return None  # nothing left to fetch: the partial file is complete (or too long)
        raise FdiffError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise FdiffError(f"{url}: cannot connect ({reason})") from None


def fetch(url: str, dest: Path, f: RemoteFile, progress: bool = True) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``) and verify it against ``f``.

    Returns the provenance string from :func:`verify`. An existing ``dest`` that verifies is
    kept; one that does not is removed and downloaded again.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            return verify(dest, f)
        except FdiffError as e:
            log.warning("%s; removing it and downloading again", e)
            dest.unlink()
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if f.size is not None and offset > f.size:
        part.unlink()
        offset = 0
    # None: HTTP 416, the range starts at the end: the partial file is complete, verify it.
    resp = _open(url, offset)
    if resp is not None:
        with resp:
            if offset and resp.status != 206:
                log.info("%s: server ignored the Range request; starting over", url)
                offset = 0
            length = resp.headers.get("Content-Length")
            remaining = int(length) if length is not None else None
            total = offset + remaining if remaining is not None else f.size
            got = 0
            with (
                open(part, "ab" if offset else "wb") as out,
                pbar(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=dest.name,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                try:
                    while block := resp.read(BLOCK):
                        out.write(block)
                        got += len(block)
                        bar.update(len(block))
                except (OSError, urllib.error.URLError, http.client.HTTPException) as e:
                    raise FdiffError(
                        f"{url}: download interrupted at {offset + got} bytes ({e}); partial "
                        f"data kept in {part}, run again to resume"
                    ) from None
            if remaining is not None and got < remaining:
                raise FdiffError(
                    f"{url}: download interrupted at {offset + got} of {total} bytes; partial "
                    f"data kept in {part}, run again to resume"
                )
    try:
        checksum = verify(part, f, label=dest)
    except FdiffError as e:
        part.unlink()
        raise FdiffError(f"{e} (downloaded from {url}); the file was removed") from None
    os.replace(part, dest)
    return checksum


def read_sources(raw: Path) -> dict[str, str]:
    """Checksums recorded by :func:`download_dataset` in ``raw`` (empty if none)."""
    p = Path(raw) / SOURCES_FILE
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text())
    except ValueError:
        return {}


def missing_manual(src: DatasetSource, dest: Path) -> list[str]:
    """Lines describing the manual paths of ``src`` that are absent from ``dest``."""
    lines = []
    for m in src.manual:
        if m.optional:
            continue
        candidates = (m.path, *m.alternatives)
        if not any((dest / c).exists() for c in candidates):
            alt = (
                f" (or {', '.join(str(dest / a) for a in m.alternatives)})"
                if m.alternatives
                else ""
            )
            lines.append(f"{dest / m.path}{alt}: {m.what}")
    return lines


def download_dataset(
    src: DatasetSource, dest: str | os.PathLike, registry: Registry, progress: bool = True
) -> dict[str, str]:
    """Fetch, verify and unpack every file of ``src`` into ``dest``; return name -> checksum.

    A dataset behind a login or licence succeeds only if the user already placed its files in
    ``dest``; otherwise it fails with one line per missing path saying what to put there.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    missing = missing_manual(src, dest)
    if missing:
        raise FdiffError(
            f"{src.name} cannot be downloaded automatically (login or licence: {src.homepage}); "
            "place these by hand, then run again: " + "; ".join(missing)
        )
    sources = read_sources(dest)
    for f in src.files:
        url = registry.url(src.name, f)
        if url is None:
            raise FdiffError(f"{src.name}/{f.name}: no URL; place it at {dest / f.name}")
        log.info("%s: fetching %s", src.name, url)
        sources[f.name] = fetch(url, dest / f.name, f, progress=progress)
        if f.extract:
            extract(dest / f.name, dest, f.provides)
    write_json(dest / SOURCES_FILE, sources)
    return sources
