"""The three configs the plan is checked on, as the workflow sees them (the schema's defaults
filled in): the paper's (config/config.yaml), the demo's, and the rehearsal's."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdiff.plan.rehearsal import load_paper_config, rehearsal_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def paper():
    return load_paper_config(REPO / "config" / "config.yaml")


@pytest.fixture(scope="session")
def demo():
    return load_paper_config(REPO / "config" / "demo.yaml")


@pytest.fixture(scope="session")
def rehearsal(paper):
    return rehearsal_config(paper, "/r/results", "/r/raw", "/r/wheel.whl")


@pytest.fixture(scope="session", params=["paper", "demo", "rehearsal"])
def config(request):
    return request.getfixturevalue(request.param)
