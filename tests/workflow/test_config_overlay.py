"""A --configfile that sets only results: and raw: is refused (it would replace the paper's
config and plan none of its experiments); the two ways the error names work."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.workflow

if shutil.which("snakemake") is None:  # pragma: no cover
    pytest.skip("snakemake is not installed (pip install -e '.[test]')", allow_module_level=True)


def dry_run(*args: str) -> tuple[int, str]:
    cmd = ["snakemake", "-n", "--workflow-profile", "none", "--cores", "1", "all", *args]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def total(out: str) -> int:
    return int(re.search(r"^total\s+(\d+)$", out, re.M).group(1))


def test_overlay_without_experiments_is_an_error_that_says_what_to_do(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(f"results: {tmp_path}/r\nraw: {tmp_path}/raw\n")
    rc, out = dry_run("--configfile", str(overlay))
    assert rc != 0
    assert f"--configfile {overlay}: sets no `experiments`" in out
    assert f"--configfile config/config.yaml {overlay}" in out and "--config results=" in out

    # What it says to do: both files (later wins), or --config. Each plans the paper's jobs.
    rc, both = dry_run("--configfile", "config/config.yaml", str(overlay))
    assert rc == 0, both[-2000:]
    assert total(both) > 200 and f"{tmp_path}/r/cub-128/ddpm/model.pt" in both
    rc, keys = dry_run("--config", f"results={tmp_path}/k", f"raw={tmp_path}/raw")
    assert rc == 0 and total(keys) == total(both) and f"{tmp_path}/k/cub-128/" in keys
