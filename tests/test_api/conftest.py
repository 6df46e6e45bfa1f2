"""Fixtures for the Test Suite API: a fresh app on a real DuckDB file per test."""

import pytest

from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME


@pytest.fixture
def app(data_dir):
    """Return a Test Suite app on its own DuckDB file."""
    app = create_app(BY_NAME["test"], {"db_path": str(data_dir / "test.duckdb")})
    yield app
    app.extensions["component"].database.close()


@pytest.fixture
def client(app):
    """Return a test client of ``app``."""
    return app.test_client()


@pytest.fixture
def make_run(client):
    """Create a run from keyword fields and return its stored body."""

    def make(**fields):
        body = {"model_name": "bert-base-uncased", "hardware": ["cpu"], **fields}
        response = client.post("/api/test/db/runs", json=body)
        assert response.status_code == 201, response.json
        return response.json

    return make
