"""Test-wide setup. gevent patches first: ``-p tests.gevent_first`` (setup.cfg) runs before any
installed plugin, and this repeats it for a run that bypasses the ini file."""

from gevent import monkey

if not monkey.is_module_patched("socket"):
    monkey.patch_all()

import pytest

from tests.support import ServiceProcess


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


@pytest.fixture(scope="session")
def postgres():
    """Return a real PostgreSQL server (tests/pg.py) for the whole session; stop it at the end."""
    from tests import pg

    with pg.running() as server:
        yield server
