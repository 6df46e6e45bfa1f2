"""The Benchmark API on a fresh DuckDB file."""

import pytest

from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME


@pytest.fixture
def client(tmp_path):
    """Return a test client of the Benchmark API."""
    app = create_app(BY_NAME["benchmark"], {"db_path": str(tmp_path / "benchmark.duckdb")})
    yield app.test_client()
    app.extensions["component"].database.close()
