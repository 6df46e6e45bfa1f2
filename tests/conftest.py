"""Test-wide setup: gevent monkey-patching comes first, or concurrency tests run serially."""

from gevent import monkey

monkey.patch_all()

import pytest  # noqa: E402

from tests.support import ServiceProcess  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    """Stop every service a test started and did not stop (a failure mid-test, say)."""
    for service in ServiceProcess.started:
        service.stop()


@pytest.fixture
def data_dir(tmp_path):
    """Return a fresh folder for DuckDB files and logs."""
    path = tmp_path / "data"
    path.mkdir()
    return path
