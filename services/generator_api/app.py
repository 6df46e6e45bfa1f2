"""The Generator API's app factory."""

from services.core.app import create_app as _create_app
from services.generator_api.component import COMPONENT


def create_app(config=None):
    """Build the Generator API app."""
    return _create_app(COMPONENT, config)
