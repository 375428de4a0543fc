"""Fixtures of the report tests (helpers in report_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import LITERATURE


@pytest.fixture
def literature(tmp_path) -> Path:
    path = tmp_path / "literature.csv"
    path.write_text(LITERATURE)
    return path
