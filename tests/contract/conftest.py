"""Fixtures of the contract suite: every test runs once per component."""

import pytest

from tests.contract.components import COMPONENTS, make_api


@pytest.fixture(params=sorted(COMPONENTS))
def component_name(request):
    """Return each component's name in turn."""
    return request.param


@pytest.fixture
def api(component_name, tmp_path):
    """Return the component's app on a fresh DuckDB file."""
    state = make_api(component_name, tmp_path / f"{component_name}.duckdb")
    yield state
    state.client.application.extensions["component"].database.close()
