"""The Test Suite API's app factory."""

from services.core.app import create_app as _create_app
from services.test_api.component import COMPONENT


def create_app(config=None):
    """Build the Test Suite API app."""
    return _create_app(COMPONENT, config)
