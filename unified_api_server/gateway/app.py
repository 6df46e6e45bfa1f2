"""Build the gateway's WSGI application, and serve it."""

import logging
import time
from dataclasses import dataclass

import click
from flask import Flask

from unified_api_server.core.errors import register_error_handlers
from unified_api_server.core.logs import configure_logging
from unified_api_server.core.server import serve
from unified_api_server.core.web.http import OrjsonProvider
from unified_api_server.gateway import changefeed
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.gateway.proxy import GatewayMiddleware
from unified_api_server.gateway.relay import relay_websocket
from unified_api_server.gateway.settings import GATEWAY, resolve, validate
from unified_api_server.gateway.upstream import build_upstreams
from unified_api_server.gateway.views import bp

log = logging.getLogger(__name__)


@dataclass
class GatewayState:
    """What the gateway's views share: settings, the key store and the component pools."""

    settings: dict
    store: KeyStore
    upstreams: dict
    started: float


def create_app(config=None):
    """Create the gateway app; ``config`` overrides settings (defaults, then ``GATEWAY_*``)."""
    settings = resolve(flags=config or {})
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    store = KeyStore(settings["keys_db"], cache_ttl=settings["key_cache_ttl"])
    upstreams = build_upstreams(settings)
    app.extensions["gateway"] = GatewayState(settings, store, upstreams, time.monotonic())
    app.register_blueprint(bp)
    changefeed.init_app(app)
    register_error_handlers(app)
    app.wsgi_app = GatewayMiddleware(app.wsgi_app, store, upstreams, relay_websocket)
    return app


def serve_gateway(settings):
    """Serve the gateway with gunicorn's gevent workers until stopped."""
    GATEWAY.log(log, "gateway", settings)
    serve(
        lambda: create_app(settings),
        host=settings["host"],
        port=settings["port"],
        worker_class="gevent",
        workers=settings["workers"],
        timeout=settings["worker_timeout"],
        log_level=settings["log_level"],
        name="unified-api-gateway",
        worker_connections=settings["worker_connections"],
    )


@click.command("gateway", help="Run the gateway by itself (gunicorn, gevent workers).")
@GATEWAY.options
def gateway_command(config_file, **flags):
    """Resolve the gateway's settings, log them once, and serve until stopped."""
    settings = GATEWAY.load_or_exit(config_file, flags, check=validate)
    configure_logging(settings["log_level"])
    serve_gateway(settings)
