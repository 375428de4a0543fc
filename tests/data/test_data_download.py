"""Downloads against a loopback server: verify, resume, restart, interrupt, mismatch, manual."""

from __future__ import annotations

import json
import os

import pytest
from datahelp import md5, no_temp_files, run, write_registry

from fdiff.data.download import fetch
from fdiff.data.registry import RemoteFile, load_registry
from fdiff.errors import FdiffError

PAYLOAD = bytes(range(256)) * 400  # 100 KiB


def _serve(server, name="f.bin"):
    (server.root / name).write_bytes(PAYLOAD)
    return f"{server.url}/{name}", RemoteFile(name, None, md5=md5(server.root / name))


def test_fetch_verifies_and_renames(server, tmp_path):
    url, f = _serve(server)
    dest = tmp_path / "dl" / "f.bin"
    assert fetch(url, dest, f, progress=False) == f"md5:{f.md5}"
    assert dest.read_bytes() == PAYLOAD and no_temp_files(dest.parent)
    n = len(server.config.requests)
    fetch(url, dest, f, progress=False)  # verified file on disk: no new request
    assert len(server.config.requests) == n


def test_checksum_mismatch_removes_file(server, tmp_path):
    url, f = _serve(server)
    bad = RemoteFile("f.bin", None, md5="0" * 32)
    dest = tmp_path / "f.bin"
    with pytest.raises(FdiffError) as e:
        fetch(url, dest, bad, progress=False)
    msg = str(e.value)
    assert "md5 mismatch: expected " + "0" * 32 + f", got {f.md5}" in msg and "\n" not in msg
    assert "removed" in msg and not dest.exists() and no_temp_files(tmp_path)


def test_resume_with_range(server, tmp_path):
    url, f = _serve(server)
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:30000])
    fetch(url, dest, f, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.config.requests[-1] == ("/f.bin", "bytes=30000-")


def test_server_ignoring_range_restarts(server, tmp_path):
    url, f = _serve(server)
    server.config.ignore_range = True
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"garbage" * 10)
    fetch(url, dest, f, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_gets_416_and_verifies(server, tmp_path):
    url, f = _serve(server)
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    fetch(url, dest, f, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_interrupted_download_keeps_part_and_resumes(server, tmp_path):
    url, f = _serve(server)
    server.config.cut_after["/f.bin"] = 40000
    dest = tmp_path / "f.bin"
    with pytest.raises(FdiffError, match=r"download interrupted at 40000 .*run again to resume"):
        fetch(url, dest, f, progress=False)
    assert (tmp_path / "f.bin.part").stat().st_size == 40000 and not dest.exists()
    fetch(url, dest, f, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.config.requests[-1][1] == "bytes=40000-"


def test_http_error_and_no_server(server, tmp_path):
    with pytest.raises(FdiffError, match=r"/nope\.bin: HTTP 404"):
        fetch(f"{server.url}/nope.bin", tmp_path / "x", RemoteFile("x", None), progress=False)
    with pytest.raises(FdiffError, match="cannot connect"):
        fetch("http://127.0.0.1:9/x", tmp_path / "x", RemoteFile("x", None), progress=False)


def test_unverified_file_warns_and_records(server, tmp_path, caplog):
    (server.root / "davis").mkdir()
    (server.root / "davis" / "DAVIS-2017-trainval-480p.zip").write_bytes(b"not a zip")
    url = f"{server.url}/davis/DAVIS-2017-trainval-480p.zip"
    f = load_registry().source("davis").files[0]
    assert f.md5 is None  # no published checksum: never invented
    out = fetch(url, tmp_path / f.name, f, progress=False)
    assert out.endswith("(unverified)") and "no published checksum" in caplog.text


def test_manual_dataset_says_what_to_place(tmp_path):
    rc, err = run("download", "ffhq", "--dest", tmp_path)
    assert rc == 2 and "\n" not in err
    assert str(tmp_path / "thumbnails128x128") in err and "images1024x1024" in err
    rc, err = run("download", "imagenet", "--dest", tmp_path)
    assert rc == 2 and str(tmp_path / "train") in err and "licence" in err
    (tmp_path / "thumbnails128x128").mkdir()
    assert run("download", "ffhq", "--dest", tmp_path) == (0, "")


def test_mirror_and_registry_from_environment(server, tmp_path, monkeypatch):
    (server.root / "voc").mkdir()
    (server.root / "voc" / "VOCtrainval_11-May-2012.tar").write_bytes(b"x" * 10)
    reg = write_registry(
        tmp_path / "reg.json",
        {
            "voc": {
                "VOCtrainval_11-May-2012.tar": {
                    "md5": md5(server.root / "voc" / "VOCtrainval_11-May-2012.tar")
                }
            }
        },
    )
    monkeypatch.setenv("FDIFF_MIRROR", server.url)
    monkeypatch.setenv("FDIFF_REGISTRY", str(reg))
    r = load_registry()
    f = r.source("voc").files[0]
    assert r.url("voc", f) == f"{server.url}/voc/VOCtrainval_11-May-2012.tar"
    # verified, then extraction fails: 10 bytes are not a tar archive
    rc, err = run("download", "voc", "--dest", tmp_path / "raw", "--quiet")
    assert rc == 2 and "VOCtrainval_11-May-2012.tar: truncated or corrupt archive" in err
    assert no_temp_files(tmp_path / "raw") and not (tmp_path / "raw" / "VOCdevkit").exists()


def test_bad_registry_override(tmp_path):
    reg = write_registry(tmp_path / "r.json", {"cub": {"nope.txt": {"md5": "1"}}})
    with pytest.raises(FdiffError, match="has no file 'nope.txt'"):
        load_registry(reg)
    reg = write_registry(tmp_path / "r.json", {"cub": {"segmentations.tgz": {"extract": False}}})
    with pytest.raises(FdiffError, match="cannot override"):
        load_registry(reg)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(FdiffError, match=r"bad\.json: cannot read registry"):
        load_registry(tmp_path / "bad.json")
    assert json.loads((tmp_path / "r.json").read_text())
    assert os.environ.get("FDIFF_MIRROR") is None
