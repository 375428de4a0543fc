"""Helpers for the data tests: a loopback HTTP server with Range support, miniature image and
archive writers, and an in-process runner for the data verbs (the ``server`` fixture lives in
conftest.py)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fdiff.cli import main

torch.set_num_threads(1)


@dataclass
class ServerConfig:
    """Behaviour switches for the test server."""

    ignore_range: bool = False
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent, then close
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves files from the server root with ``Range: bytes=N-`` support (206 responses)."""

    config: ServerConfig

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        self.config.requests.append((self.path, rng))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "not found")
            return
        data = path.read_bytes()
        start = 0
        if rng and not self.config.ignore_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        cut = self.config.cut_after.pop(self.path, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@dataclass
class Server:
    root: Path
    url: str
    config: ServerConfig


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_registry(path: Path, entries: dict) -> Path:
    """Registry override JSON: {dataset: {file: {"md5": ...}}}."""
    path.write_text(json.dumps(entries))
    return path


def rand_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random RGB image uint8 [h, w, 3] (compresses like a photo)."""
    base = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(base).resize((w, h), Image.BILINEAR))


def save(arr: np.ndarray, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kwargs)
    return path


def save_palette(arr: np.ndarray, path: Path) -> Path:
    """A palette ("P") PNG of class indices, like VOC and DAVIS annotations."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr.astype(np.uint8), mode="P")
    im.putpalette([v for i in range(256) for v in (i * 37 % 256, i * 91 % 256, i * 53 % 256)])
    im.save(path)
    return path


def make_tar(out: Path, src: Path, members: list[str], mode: str = "w:gz") -> Path:
    """Archive ``members`` (paths relative to ``src``) into ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, mode) as t:
        for m in members:
            t.add(src / m, arcname=m)
    return out


def make_zip(out: Path, src: Path, top: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as z:
        for p in sorted((src / top).rglob("*")):
            z.write(p, p.relative_to(src).as_posix())
    return out


def make_davis_zip(
    out: Path,
    src: Path,
    seqs: dict[str, str],
    size: tuple[int, int],
    objects: list[tuple[slice, slice]],
    rng: np.random.Generator,
    frames: int = 3,
) -> Path:
    """DAVIS-2017-trainval-480p.zip in ``out``, built under ``src``: per sequence of ``seqs``
    (name -> split) ``frames`` random JPEG frames of ``size`` (H, W) and palette annotations
    with object i + 1 on the box ``objects[i]``; the ImageSets/2017 split lists."""
    root = src / "DAVIS"
    for seq in seqs:
        for t in range(frames):
            save(rand_image(rng, *size), root / "JPEGImages" / "480p" / seq / f"{t:05d}.jpg")
            m = np.zeros(size, np.uint8)
            for i, box in enumerate(objects):
                m[box] = i + 1
            save_palette(m, root / "Annotations" / "480p" / seq / f"{t:05d}.png")
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        (root / "ImageSets" / "2017" / f"{split}.txt").write_text(
            "\n".join(s for s, v in seqs.items() if v == split) + "\n"
        )
    out.mkdir(parents=True, exist_ok=True)
    return make_zip(out / "DAVIS-2017-trainval-480p.zip", src, "DAVIS")


def write_celebamask(
    root: Path,
    orig: dict[int, int],
    parts: dict[str, tuple[slice, slice]],
    rng: np.random.Generator,
    s: int = 32,
) -> None:
    """A CelebAMask-HQ folder at ``root``: per image index of ``orig`` (index -> CelebA index)
    a random 2s x 2s JPEG and one s x s annotation PNG per part of ``parts`` (its box white),
    and the CelebA-HQ-to-CelebA mapping."""
    anno = root / "CelebAMask-HQ-mask-anno"
    for idx in orig:
        save(rand_image(rng, 2 * s, 2 * s), root / "CelebA-HQ-img" / f"{idx}.jpg")
        for part, (ys, xs) in parts.items():
            m = np.zeros((s, s, 3), np.uint8)
            m[ys, xs] = 255
            save(m, anno / str(idx // 2000) / f"{idx:05d}_{part}.png")
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
        "idx orig_idx orig_file\n" + "".join(f"{i} {o} {o + 1:06d}.jpg\n" for i, o in orig.items())
    )


def run(*argv: str) -> tuple[int, str]:
    """Run a data verb in-process through ``fdiff``'s own entry point; return (exit status,
    its error line, or nothing; progress bars are left out)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:  # argparse refused an argument
            rc = e.code
    errors = [
        ln.split(": error: ", 1)[1] for ln in err.getvalue().splitlines() if ": error: " in ln
    ]
    return int(rc), "\n".join(errors)


def no_temp_files(folder: Path) -> bool:
    """True when no temporary output (``.*.tmp*``, ``*.part``, ``.extract-*``) is left."""
    return not [
        p
        for p in Path(folder).rglob("*")
        if ".tmp" in p.name or p.name.endswith(".part") or p.name.startswith(".extract-")
    ]


def jpeg_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def start_server(root: Path):
    """Serve ``root`` on 127.0.0.1 (ephemeral port); returns (Server, httpd)."""
    config = ServerConfig()
    handler = type("H", (RangeHandler,), {"config": config})

    def make(*args, **kwargs):
        return handler(*args, directory=str(root), **kwargs)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return Server(root, f"http://127.0.0.1:{httpd.server_address[1]}", config), httpd
