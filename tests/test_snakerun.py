"""tests/snakerun.without_slurm: the PATH of the non-SLURM workflow tests hides the machine's
SLURM commands (whose presence makes the SLURM plugin wait for a controller) and nothing else."""

from __future__ import annotations

import os
import shutil

from snakerun import without_slurm


def _tool(folder, name):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("#!/bin/sh\necho " + name + "\n")
    (folder / name).chmod(0o755)


def test_machine_slurm_commands_are_hidden_and_stand_ins_kept(tmp_path, monkeypatch):
    machine, standin = tmp_path / "usr-bin", tmp_path / "stand-in"
    for name in ("sinfo", "sacct", "scontrol", "ls-like"):
        _tool(machine, name)
    _tool(standin, "scontrol")
    monkeypatch.setenv("PATH", f"{machine}{os.pathsep}{os.environ['PATH']}")
    env = without_slurm(dict(os.environ, PATH=f"{standin}{os.pathsep}{os.environ['PATH']}"))
    path = env["PATH"]
    assert shutil.which("sinfo", path=path) is None
    assert shutil.which("sacct", path=path) is None
    # the test's own stand-in stays; the machine's other commands are still found
    assert shutil.which("scontrol", path=path) == str(standin / "scontrol")
    found = shutil.which("ls-like", path=path)
    assert found and os.path.realpath(found) == str(machine / "ls-like")
    assert str(machine) not in path.split(os.pathsep)
