"""The Benchmark API on a fresh DuckDB file."""

import pytest

from unified_api_server.components.benchmark.app import create_app


@pytest.fixture
def client(tmp_path):
    """Return a test client of the Benchmark API."""
    app = create_app({"db_path": str(tmp_path / "benchmark.duckdb")})
    yield app.test_client()
    app.extensions["component"].database.close()
