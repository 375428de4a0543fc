"""Fixtures of the data tests (helpers in datahelp.py)."""

from __future__ import annotations

import pytest
from datahelp import start_server


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server with Range support serving ``tmp_path / "www"``."""
    root = tmp_path / "www"
    root.mkdir()
    srv, httpd = start_server(root)
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()
