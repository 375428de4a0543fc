"""The two-node SLURM cluster fixture (n1, n2 on this machine): started once per session by
tests/slurm/cluster.sh, stopped at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def slurm_cluster():
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "munged") if shutil.which(b) is None]
    if missing:
        pytest.skip(f"SLURM not installed ({', '.join(missing)} missing): tests/slurm/install.sh")
    if os.geteuid() != 0:
        pytest.skip("the SLURM fixture writes /etc/slurm and starts daemons: needs root")
    r = subprocess.run(["bash", str(HERE / "cluster.sh"), "start"], capture_output=True, text=True,
                       timeout=240)  # fmt: skip
    assert r.returncode == 0, f"cluster.sh start failed:\n{r.stdout}\n{r.stderr}"
    yield
    subprocess.run(["bash", str(HERE / "cluster.sh"), "stop"], capture_output=True, timeout=120)


def _cluster(action: str, **env: str) -> None:
    r = subprocess.run(["bash", str(HERE / "cluster.sh"), action], capture_output=True,
                       text=True, env=dict(os.environ, **env), timeout=240)  # fmt: skip
    assert r.returncode == 0, f"cluster.sh {action} failed:\n{r.stdout}\n{r.stderr}"


@pytest.fixture
def preempt_cluster(request, slurm_cluster):
    """The cluster restarted with FDIFF_SLURM_PREEMPT=<the test's parameter> (`start` reuses a
    running cluster), and without preemption again afterwards."""
    _cluster("stop")
    _cluster("start", FDIFF_SLURM_PREEMPT=request.param)
    yield request.param
    _cluster("stop")
    _cluster("start", FDIFF_SLURM_PREEMPT="")
