"""Build the gateway's WSGI application."""

import logging
import time
from dataclasses import dataclass

from flask import Flask

from unified_api_server.core.errors import register_error_handlers
from unified_api_server.core.web.http import OrjsonProvider
from unified_api_server.gateway import changefeed
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.gateway.proxy import GatewayMiddleware
from unified_api_server.gateway.relay import relay_websocket
from unified_api_server.gateway.settings import resolve
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
