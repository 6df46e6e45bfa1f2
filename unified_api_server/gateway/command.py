"""``unified-api-server gateway``: serve the gateway with gunicorn's gevent workers.

This module imports no HTTP client: each gevent worker patches the standard library before
the app (and urllib3 with it) is imported inside the worker.
"""

import logging

import click

from unified_api_server.core.logs import configure_logging
from unified_api_server.core.server import serve
from unified_api_server.gateway.settings import GATEWAY, validate

log = logging.getLogger(__name__)


def _app(settings):
    from unified_api_server.gateway.app import create_app

    return create_app(settings)


def serve_gateway(settings):
    """Serve the gateway with gunicorn's gevent workers until stopped."""
    GATEWAY.log(log, "gateway", settings)
    serve(
        lambda: _app(settings),
        host=settings["host"],
        port=settings["port"],
        worker_class="gevent",
        workers=settings["workers"],
        timeout=settings["worker_timeout"],
        log_level=settings["log_level"],
        name="unified-api-gateway",
        worker_connections=settings["worker_connections"],
        metrics_dir=settings["metrics_dir"],
    )


@click.command("gateway", help="Run the gateway by itself (gunicorn, gevent workers).")
@GATEWAY.options
def gateway_command(config_file, **flags):
    """Resolve the gateway's settings, log them once, and serve until stopped."""
    settings = GATEWAY.load_or_exit(config_file, flags, check=validate)
    configure_logging(settings["log_level"], fmt=settings["log_format"])
    serve_gateway(settings)
