"""The Benchmark API's app factory."""

from services.benchmark_api.component import COMPONENT
from services.core.app import create_app as _create_app


def create_app(config=None):
    """Build the Benchmark API app."""
    return _create_app(COMPONENT, config)
