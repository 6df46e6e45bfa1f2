"""The gateway's front door: a WSGI layer that authenticates every request and streams forwards.

Every request passes :meth:`GatewayMiddleware.__call__`: the target is normalised, the key
checked (:func:`~unified_api_server.gateway.routing.decide`), then a component route is streamed
straight through with urllib3, and anything else (``/``, ``/health``, the cross-component views,
404s) is handed to the Flask app with ``PATH_INFO`` replaced by the normalised path. Forwarding
skips Flask's request machinery on purpose: the hop's CPU cost is the gateway's throughput ceiling.

nginx ``auth_request`` contract (``GET /auth/check``)
-----------------------------------------------------
nginx sends a subrequest to ``/auth/check`` carrying the client's key headers (``X-API-Key`` or
``Authorization``) and two headers naming the original request::

    location = /_auth {
        internal;
        proxy_pass http://gateway/auth/check;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Original-URI $request_uri;   # raw URI, with the query string
    }

The answer is the same decision the gateway makes for its own forwarding:

* ``204`` allowed; headers ``X-API-Key-Name`` and ``X-API-Key-Scopes`` name the key
  (``auth_request_set $key_name $upstream_http_x_api_key_name;``);
* ``401`` no, unknown, revoked or expired key (with ``WWW-Authenticate: ApiKey``);
* ``403`` the key lacks the scope, or the URI is not canonical (``//``, ``.``/``..`` segments or
  an encoded ``/``): nginx passes the raw URI to the component, so only URIs whose meaning
  cannot change are authorised that way; the gateway itself accepts them because it forwards the
  normalised path;
* ``403`` also when the URI cannot be used at all (control characters, invalid UTF-8, not a path),
  which the gateway's own forwarding answers with 400: nginx would turn a 400 into a 500;
* ``400`` when ``X-Original-URI`` is missing (a configuration error; nginx turns it into 500).

nginx may proxy ``/api/{test|generator|benchmark}/...`` to the component unchanged after a 204, and
``/api/db/{component}/{path}`` after rewriting it to ``/api/{component}/db/{path}``; everything else
(``/``, ``/health``, ``/api/db/overview``, ``/api/db/model/...``, ``/api/db/search``) goes to the
gateway. A decision may be cached briefly (keyed on the key header, method and URI); revocation
is promised within 5 s, so keep such a cache at 2 s or less.
"""

import json
import logging
import time
import uuid

from unified_api_server.core.errors import error_body
from unified_api_server.gateway.routing import (
    adopt_query_key,
    decide,
    encode_path,
    normalize_target,
    request_target,
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
# A client's own X-Internal-Token never passes: the gateway sets the real one.
_DROP_REQUEST = _HOP | {
    "host",
    "x-api-key",
    "authorization",
    "expect",
    "content-length",
    "x-internal-token",
}
_DROP_RESPONSE = _HOP | {"server", "date"}
_REQUEST_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


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


def request_id_from(environ):
    """Return the client's ``X-Request-ID`` when it is sane, else a new one."""
    given = environ.get("HTTP_X_REQUEST_ID")
    if given and len(given) <= 128 and set(given) <= _REQUEST_ID_CHARS:
        return given
    return uuid.uuid4().hex


def json_error(start_response, status, message, request_id, details=None, headers=()):
    """Answer with the shared JSON error shape from plain WSGI."""
    body = json.dumps(error_body(status, message, details)).encode("utf-8")
    response_headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Request-ID", request_id),
        *headers,
    ]
    start_response(f"{status} {_REASONS.get(status, 'Error')}", response_headers)
    return [body]


_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    501: "Not Implemented",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}
_CHALLENGE = ("WWW-Authenticate", 'ApiKey realm="unified-api-server", header="X-API-Key"')


def deny(start_response, decision, request_id):
    """Answer a refused :class:`Decision` (400, 401 or 403)."""
    headers = (_CHALLENGE,) if decision.status == 401 else ()
    return json_error(start_response, decision.status, decision.message, request_id, None, headers)


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


def _request_body(environ):
    """Return ``(body, content_length)`` reading the client's body lazily, or ``(None, None)``."""
    stream = environ.get("wsgi.input")
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            remaining = int(length)
        except ValueError:
            remaining = -1
        if remaining < 0:
            return None, None
        if remaining == 0:
            return b"", "0"

        def limited():
            left = remaining
            while left > 0:
                chunk = stream.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk

        return limited(), str(remaining)
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return iter(lambda: stream.read(CHUNK), b""), None
    return None, None


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

    def __init__(self, app, store, upstreams, websocket_relay=None):
        self.app = app
        self.store = store
        self.upstreams = upstreams
        self.websocket_relay = websocket_relay

    def __call__(self, environ, start_response):
        """Authenticate the request, then forward it, relay its socket, or pass it to Flask."""
        adopt_query_key(environ)  # browsers: ?api_key= on WebSocket openings only
        request_id = request_id_from(environ)
        environ["gateway.request_id"] = request_id
        method = environ.get("REQUEST_METHOD", "GET")
        target = request_target(environ)
        headers = EnvironHeaders(environ)
        if "auth/check" in target and normalize_target(target).path == "/auth/check":
            return self.auth_check(environ, start_response, headers, request_id)
        decision = decide(method, target, headers, self.store)
        if decision.status != 200:
            return deny(start_response, decision, request_id)
        route = decision.route
        if route.kind == "forward":
            path_qs = encode_path(route.upstream_path)
            if decision.target.query:
                path_qs += "?" + decision.target.query
            if route.websocket and environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                if self.websocket_relay is None:
                    return json_error(
                        start_response, 501, "WebSocket relay is not available", request_id
                    )
                upstream = self.upstreams[route.component]
                return self.websocket_relay(
                    environ, start_response, upstream, path_qs, decision, self.store
                )
            return self.forward(environ, start_response, route.component, path_qs, decision)
        environ["gateway.decision"] = decision
        environ["PATH_INFO"] = decision.target.path.encode("utf-8").decode("latin-1")
        environ["SCRIPT_NAME"] = ""

        def start_with_id(status, response_headers, exc_info=None):
            response_headers.append(("X-Request-ID", request_id))
            return start_response(status, response_headers, exc_info)

        return self.app(environ, start_with_id)

    def forward(self, environ, start_response, component, path_qs, decision):
        """Stream the request to ``component`` and its answer back."""
        request_id = environ["gateway.request_id"]
        method = environ.get("REQUEST_METHOD", "GET")
        headers = upstream_headers(environ, request_id, decision)
        body, length = _request_body(environ)
        if length is not None:
            headers["content-length"] = length
        upstream = self.upstreams[component]
        started = time.perf_counter()
        try:
            response = upstream.open(method, path_qs, headers, body)
        except UpstreamError as exc:
            log_call(component, method, path_qs, exc.status, started, request_id)
            details = {"component": component, "reason": exc.reason}
            return json_error(start_response, exc.status, exc.message, request_id, details)
        connection_tokens = {
            token.strip().lower() for token in response.headers.get("connection", "").split(",")
        }
        response_headers = [
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in _DROP_RESPONSE and name.lower() not in connection_tokens
        ]
        response_headers.append(("X-Request-ID", request_id))
        start_response(f"{response.status} {response.reason or ''}".rstrip(), response_headers)
        return StreamedResponse(response, component, method, path_qs, started, request_id)

    def auth_check(self, environ, start_response, headers, request_id):
        """Answer nginx ``auth_request``: 204, 401 or 403 for X-Original-Method/-URI."""
        original = environ.get("HTTP_X_ORIGINAL_URI")
        if not original:
            return json_error(start_response, 400, "X-Original-URI header is required", request_id)
        original_method = environ.get("HTTP_X_ORIGINAL_METHOD", "GET")
        decision = decide(original_method, original, headers, self.store, require_canonical=True)
        if decision.status != 200:
            return deny(start_response, decision, request_id)
        response_headers = [("X-Request-ID", request_id)]
        if decision.key is not None:
            response_headers.append(("X-API-Key-Name", decision.key.name))
            response_headers.append(("X-API-Key-Scopes", ",".join(decision.key.scopes)))
        start_response("204 No Content", response_headers)
        return []
