"""Fixtures of the contract suite: every test runs once per registered component."""

import os

import pytest

from tests.contract.api import GATEWAY, gateway_api, make_api
from tests.support import NAMES

CHOSEN = [n for n in os.environ.get("UAS_CONTRACT_COMPONENTS", "").split(",") if n] or NAMES


@pytest.fixture(params=CHOSEN)
def component_name(request):
    """Return each component's name in turn."""
    return request.param


@pytest.fixture
def api(component_name, tmp_path):
    """Return the component's API: in-process on a fresh DuckDB file, or through a gateway."""
    if GATEWAY:
        yield gateway_api(component_name)
        return
    state = make_api(component_name, tmp_path / f"{component_name}.duckdb")
    yield state
    state.client.application.extensions["component"].database.close()
