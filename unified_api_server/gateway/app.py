"""Build the gateway's WSGI application."""

import logging
import time
from dataclasses import dataclass

from flask import Flask

from unified_api_server.core import metrics
from unified_api_server.core.errors import register_error_handlers
from unified_api_server.core.web import requestlog
from unified_api_server.core.web.http import OrjsonProvider
from unified_api_server.gateway import alerts, changefeed, charts, openapi, sessions, ui, viewcache
from unified_api_server.gateway.keys import KeyStore, store_location
from unified_api_server.gateway.proxy import GatewayMiddleware
from unified_api_server.gateway.ratelimit import RateLimits, SocketSlots
from unified_api_server.gateway.routing import metric_route
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
    limits: RateLimits
    sockets: SocketSlots
    started: float


def create_app(config=None):
    """Create the gateway app; ``config`` overrides settings (defaults, then ``GATEWAY_*``)."""
    settings = resolve(flags=config or {})
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    store = KeyStore(store_location(settings), cache_ttl=settings["key_cache_ttl"])
    sockets = SocketSlots(
        settings["keys_url"] or settings["limits_db"],  # PostgreSQL: shared by every host
        {"job": settings["job_sockets_per_key"], "stream": settings["streams_per_key"]},
    )
    state = GatewayState(
        settings,
        store,
        build_upstreams(settings),
        RateLimits(settings),
        sockets,
        time.monotonic(),
    )
    app.extensions["gateway"] = state
    app.register_blueprint(bp)
    app.register_blueprint(alerts.bp)
    app.register_blueprint(charts.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(ui.bp)
    sessions.init_app(app, store, settings)  # sign-in, session tokens, the pages' CSRF check
    changefeed.init_app(app)
    viewcache.init_app(app, state)
    register_error_handlers(app)
    app.wsgi_app = GatewayMiddleware(app.wsgi_app, state)
    requestlog.init_app(app)  # outermost: every answer, refusals included, is logged
    metrics.init_app(app, route_of=metric_route)  # every answer, forwards and refusals too
    return app
