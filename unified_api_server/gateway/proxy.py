"""The gateway's front door: a WSGI layer that authenticates every request and streams forwards.

Every request passes :meth:`GatewayMiddleware.__call__`: the target is normalised, the key
checked (:func:`~unified_api_server.gateway.routing.decide`), then a component route is streamed
straight through with urllib3, and anything else (``/``, ``/health``, the cross-component views,
404s) is handed to the Flask app with ``PATH_INFO`` replaced by the normalised path. Forwarding
skips Flask's request machinery on purpose: the hop's CPU cost is the gateway's throughput ceiling.

nginx's ``auth_request`` asks :mod:`~unified_api_server.gateway.authcheck` the same questions.
"""

import logging
import time

from werkzeug.wsgi import ClosingIterator

from unified_api_server.core.metrics import rate_limited
from unified_api_server.core.web.requestlog import request_id_from
from unified_api_server.gateway.answers import deny, json_error
from unified_api_server.gateway.authcheck import auth_check
from unified_api_server.gateway.bodies import BodyError, read_body, stop_reading
from unified_api_server.gateway.keys import KeyStoreUnavailable
from unified_api_server.gateway.relay import relay_websocket
from unified_api_server.gateway.routing import (
    adopt_query_key,
    decide,
    encode_path,
    is_socket_path,
    normalize_target,
    request_target,
    socket_kind,
)
from unified_api_server.gateway.upstream import UpstreamError, log_call

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# Hop-by-hop headers (RFC 9110 7.6.1) and headers the gateway sets itself.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# A client's own X-Internal-Token never passes: the gateway sets the real one. Nor do its
# credentials: its key, its Bearer token, its cookies (the session cookie is a credential too).
_DROP_REQUEST = _HOP | {
    "host",
    "x-api-key",
    "authorization",
    "cookie",
    "expect",
    "content-length",
    "x-internal-token",
}
# A component echoes the request id; the gateway sets it once itself.
_DROP_RESPONSE = _HOP | {"server", "date", "x-request-id"}


class EnvironHeaders:
    """Read request headers straight from a WSGI environ (cheaper than building a mapping)."""

    __slots__ = ("environ",)

    def __init__(self, environ):
        self.environ = environ

    def get(self, name, default=None):
        """Return the header ``name`` or ``default``."""
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        return self.environ.get(key, default)


class StreamedResponse:
    """Relay an upstream response body chunk by chunk; close or recycle its connection after."""

    def __init__(self, response, component, method, path_qs, started, request_id):
        self.response = response
        self.component = component
        self.method = method
        self.path_qs = path_qs
        self.started = started
        self.request_id = request_id
        self.sent = 0
        self.finished = False

    def __iter__(self):
        read = self.response.read
        while True:
            chunk = read(CHUNK, decode_content=False)
            if not chunk:
                break
            self.sent += len(chunk)
            yield chunk
        self.finished = True

    def close(self):
        """Return the connection to the pool if the body was read, else drop it; log the call."""
        if not self.finished:
            self.response.close()
        self.response.release_conn()
        extra = "" if self.finished else " aborted=true"
        log_call(
            self.component,
            self.method,
            self.path_qs,
            self.response.status,
            self.started,
            self.request_id,
            f" bytes={self.sent}{extra}",
        )


def upstream_headers(environ, request_id, decision):
    """Build the headers sent to a component: end-to-end ones, X-Forwarded-* and X-Request-ID."""
    connection_tokens = {
        token.strip().lower() for token in environ.get("HTTP_CONNECTION", "").split(",")
    }
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key == "CONTENT_TYPE":
            name = "content-type"
        else:
            continue
        if name in _DROP_REQUEST or name in connection_tokens or not value:
            continue
        headers[name] = value
    peer = environ.get("REMOTE_ADDR", "")
    prior = environ.get("HTTP_X_FORWARDED_FOR")
    headers["x-forwarded-for"] = f"{prior}, {peer}" if prior else peer
    headers["x-forwarded-proto"] = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get(
        "wsgi.url_scheme", "http"
    )
    headers["x-forwarded-host"] = environ.get("HTTP_X_FORWARDED_HOST") or environ.get(
        "HTTP_HOST", ""
    )
    headers["x-request-id"] = request_id
    if decision.key is not None:
        headers["x-api-key-name"] = decision.key.name
    return headers


class GatewayMiddleware:
    """Authenticate every request; stream component routes; pass the rest to the Flask app."""

    def __init__(self, app, state):
        self.app = app
        self.state = state  # the GatewayState: settings, key store, upstreams, limits, sockets
        settings = state.settings
        self.body_bounds = (
            settings["max_body_mb"] * 1024 * 1024,
            settings["body_timeout"],
            settings["body_budget_mb"] * 1024 * 1024,
        )

    def __call__(self, environ, start_response):
        """Authenticate the request, then forward it, relay its socket, or pass it to Flask."""
        adopt_query_key(environ)  # browsers: ?api_key= on WebSocket openings only
        request_id = request_id_from(environ)
        environ["gateway.request_id"] = request_id
        target = request_target(environ)
        headers = EnvironHeaders(environ)
        try:
            if "auth/check" in target and normalize_target(target).path == "/auth/check":
                return auth_check(self, environ, start_response, headers, request_id)
            decision = decide(
                environ.get("REQUEST_METHOD", "GET"), target, headers, self.state.store
            )
        except KeyStoreUnavailable as exc:  # PostgreSQL down: say so, never a 500
            return json_error(start_response, 503, exc.message, request_id)
        if decision.key is not None:
            environ["uas.key_name"] = decision.key.name  # for the request's log line
        if decision.status != 200:
            return deny(start_response, decision, request_id)
        refusal, limit_headers = self.rate_limit(decision)
        if refusal is not None:
            return json_error(start_response, 429, refusal, request_id, None, limit_headers)
        try:  # the whole body, before a component or a view spends anything on it
            body, length = read_body(environ, *self.body_bounds)
        except BodyError as exc:
            stop_reading(environ)
            return json_error(
                start_response, exc.status, exc.message, request_id, None, exc.headers
            )
        environ["gateway.body"] = body
        if body is None:
            return self.route(environ, start_response, decision, limit_headers)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = body, str(length)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        answer = self.route(environ, start_response, decision, limit_headers)
        return ClosingIterator(answer, body.close)  # its bytes go back to the budget

    def route(self, environ, start_response, decision, limit_headers):
        """Open a socket, or dispatch the request."""
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket" and is_socket_path(
            decision.target.path
        ):
            return self.open_socket(environ, start_response, decision)
        return self.dispatch(environ, start_response, decision, limit_headers)

    def rate_limit(self, decision):
        """Count the request against its key's rate: ``(refusal or None, headers)``."""
        if decision.key is None:
            return None, []
        return self.state.limits.check(decision.key)

    def dispatch(self, environ, start_response, decision, extra_headers=()):
        """Forward a component route, relay a job socket, or hand the request to Flask."""
        request_id = environ["gateway.request_id"]
        environ["gateway.decision"] = decision
        route = decision.route
        if route.kind == "forward":
            path_qs = encode_path(route.upstream_path)
            if decision.target.query:
                path_qs += "?" + decision.target.query
            upstream = self.state.upstreams[route.component]
            if route.websocket and environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                return relay_websocket(
                    environ, start_response, upstream, path_qs, decision, self.state.store
                )
            return self.forward(environ, start_response, upstream, path_qs, extra_headers)
        environ["PATH_INFO"] = decision.target.path.encode("utf-8").decode("latin-1")
        environ["SCRIPT_NAME"] = ""

        def start_with_id(status, response_headers, exc_info=None):
            response_headers.append(("X-Request-ID", request_id))
            response_headers.extend(extra_headers)
            return start_response(status, response_headers, exc_info)

        return self.app(environ, start_with_id)

    def open_socket(self, environ, start_response, decision):
        """Open a WebSocket in one of its key's socket slots, held until it closes."""
        kind = socket_kind(decision.target.path)
        release = self.state.sockets.acquire(decision.key.name, kind)
        if release is None:
            limit = self.state.sockets.limits[kind]
            what = "change streams" if kind == "stream" else "job sockets"
            message = f"API key {decision.key.name!r} already holds {limit} open {what} (the limit)"
            rate_limited("streams" if kind == "stream" else "job_sockets")
            return json_error(start_response, 429, message, environ["gateway.request_id"])
        try:
            return self.dispatch(environ, start_response, decision)
        finally:  # the socket lived inside that call (gunicorn ends it by StopIteration)
            release()

    def forward(self, environ, start_response, upstream, path_qs, extra_headers):
        """Stream the request to ``upstream`` and its answer back."""
        request_id = environ["gateway.request_id"]
        method = environ.get("REQUEST_METHOD", "GET")
        component = upstream.name
        headers = upstream_headers(environ, request_id, environ["gateway.decision"])
        body = environ["gateway.body"]
        if body is not None:
            headers["content-length"] = environ["CONTENT_LENGTH"]
        started = time.perf_counter()
        try:
            response = upstream.open(method, path_qs, headers, body)
        except UpstreamError as exc:
            log_call(component, method, path_qs, exc.status, started, request_id, failed=True)
            details = {"component": component, "reason": exc.reason}
            return json_error(
                start_response, exc.status, exc.message, request_id, details, exc.headers
            )
        finally:
            if body is not None:
                body.close()  # sent in full (a spilled one is a temporary file)
        connection_tokens = {
            token.strip().lower() for token in response.headers.get("connection", "").split(",")
        }
        response_headers = [
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in _DROP_RESPONSE and name.lower() not in connection_tokens
        ]
        response_headers.append(("X-Request-ID", request_id))
        response_headers.extend(extra_headers)
        start_response(f"{response.status} {response.reason or ''}".rstrip(), response_headers)
        return StreamedResponse(response, component, method, path_qs, started, request_id)
