"""Test-wide setup: gevent monkey-patching comes first, or concurrency tests run serially."""

from gevent import monkey

monkey.patch_all()

import pytest  # noqa: E402

from tests.support import ServiceProcess, free_port  # noqa: E402,F401


@pytest.fixture
def data_dir(tmp_path):
    """Return a fresh folder for DuckDB files and logs."""
    path = tmp_path / "data"
    path.mkdir()
    return path
