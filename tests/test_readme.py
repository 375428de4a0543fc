"""The README's commands are the ones that CI and the demo test run, so that they cannot drift
apart: command 1's installs are .ci/run's installs, its Snakemake call is the demo test's (on
the full demo config), command 2 is .ci/run's fast tier and the README's --slow its slow tier.
The virtual environment is the README's alone: CI installs into the machine's own Python."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from snakerun import DEMO_ARGS

REPO = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[list[str]]:
    """Each command of shell text, split at newlines and `&&`, comments dropped."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words:
                out.append(words)
    return out


def _normal(cmd: list[str]) -> list[str]:
    """pip's -q (CI is quiet) dropped: the same command otherwise."""
    return [w for w in cmd if w != "-q"] if cmd[:3] == ["python3", "-m", "pip"] else cmd


def readme_commands() -> list[list[str]]:
    """The commands of the README's first bash block (the virtual environment and the two)."""
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README.md: no ```bash block"
    return _commands(block.group(1))


def ci_commands() -> list[list[str]]:
    """.ci/run's commands that install or test: its pip calls and each tier's pytest call."""
    out = []
    for cmd in _commands((REPO / ".ci/run").read_text()):
        if cmd[:3] == ["python3", "-m", "pip"]:
            out.append(cmd)
        elif cmd[0] == "tier" and len(cmd) > 2:
            out.append(cmd[2:])
    return out


def test_readme_starts_in_a_virtual_environment():
    venv, activate, *_ = readme_commands()
    assert venv == ["python3", "-m", "venv", ".venv"] and activate == [".", ".venv/bin/activate"]


def test_command_1_installs_what_ci_installs_and_runs_the_demo_as_its_test_does():
    readme = [_normal(c) for c in readme_commands()[2:]]
    ci = [_normal(c) for c in ci_commands()]
    installs = [c for c in readme if c[:3] == ["python3", "-m", "pip"]]
    assert installs and installs == [c for c in ci if c[:3] == ["python3", "-m", "pip"]], (
        installs, ci)  # fmt: skip
    (demo,) = [c for c in readme if c[0] == "snakemake"]
    assert demo == ["snakemake", *DEMO_ARGS, "--configfile", "config/demo.yaml"], demo


def test_command_2_is_the_fast_tier_of_ci_and_slow_its_slow_tier():
    readme = readme_commands()
    tests = [c for c in readme if c[:3] == ["python3", "-m", "pytest"]]
    assert len(tests) == 1, tests
    ci_tests = [c for c in ci_commands() if c[:3] == ["python3", "-m", "pytest"]]
    assert ci_tests == [tests[0], [*tests[0], "--slow"]], ci_tests
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    assert f"`{shlex.join([*tests[0], '--slow'])}`" in block  # the slow tier's flag, documented
