"""The Generator API's app factory."""

from unified_api_server.components.generator.component import COMPONENT
from unified_api_server.core.web.app import create_app as _create_app


def create_app(config=None):
    """Build the Generator API app."""
    return _create_app(COMPONENT, config)
