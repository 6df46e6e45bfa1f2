"""Normalise a request target, map it to a route, and decide whether a key may use it.

One function, :func:`decide`, makes the access decision for both the gateway's own forwarding and
the ``GET /auth/check`` endpoint used by nginx ``auth_request``, so the two can never disagree.

Normalisation happens on the *decoded* path, before any decision: percent-escapes are decoded once
(so ``%2e%2e`` and ``%2f`` become ``..`` and ``/``), empty segments (``//``) are dropped, and ``.``
and ``..`` segments are resolved (never above the root). The gateway forwards exactly the path it
decided on, re-encoded, so a component can never see a path other than the one that was authorised.
Route matching is case-sensitive: ``/API/test/...`` is simply an unknown path (404 after auth).
"""

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode

from unified_api_server.gateway.scopes import (
    ANY_COMPONENT,
    SCOPES,
    credential_problem,
    key_has_scope,
    presented_credential,
)
from unified_api_server.registry import NAMES

__all__ = ["SCOPES", "decide", "key_has_scope"]

# Paths that answer without a key (GET/HEAD only): health, and the API's description (its spec
# and Swagger UI, open as the original service's /docs were; the routes they describe are not).
PUBLIC_PATHS = frozenset({"/health", "/api/openapi.json", "/api/docs"})
PUBLIC_PREFIXES = ("/api/docs/assets/",)
# Component routes forwarded without a key (GET/HEAD only): each component's own spec.
PUBLIC_FORWARDS = frozenset(f"/api/{c}/openapi.json" for c in NAMES)
# POSTs that only read: the searches and the streaming exports.
READ_ONLY_POSTS = frozenset(
    {"/api/db/search"}
    | {f"/api/{c}/db/search" for c in NAMES}
    | {f"/api/{c}/db/export" for c in NAMES}
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes that change what every caller depends on (the schema): the admin scope, any method.
ADMIN_PATHS = frozenset(f"/api/{c}/db/migrations/apply" for c in NAMES)
# The gateway's Prometheus metrics: for the admin scope only (they name every component's traffic).
METRICS_PATH = "/metrics"
# ws: the merged change stream
GATEWAY_VIEWS = frozenset({"overview", "search", "model", "alerts", "charts", "ws"})
# Characters left unescaped when a normalised path is forwarded (RFC 3986 pchar minus '%').
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Target:
    """A normalised request target."""

    path: str  # decoded, normalised, always starting with "/"
    query: str  # raw query string, without "?"
    canonical: bool  # False when normalisation changed the path (dots, "//", encoded "/")
    error: str | None = None  # set when the target cannot be used at all


@dataclass(frozen=True)
class Route:
    """Where a normalised path goes."""

    kind: str  # "public", "forward", "view", "ui" (a dashboard page), "local" or "unknown"
    component: str | None = None
    upstream_path: str | None = None  # decoded path on the component
    websocket: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome of an access check."""

    status: int  # 200 allowed, 400 (unusable target, never for auth_request), 401 or 403
    message: str
    route: Route
    target: Target
    scope: str | None = None  # scope the request needed
    key: object = None  # the KeyRecord that was used, if any
    token: str | None = None  # the key as presented (kept in memory: open sockets re-check it)
    reason: str | None = None  # why it was refused, in a word (the auth failures metric)
    via: str | None = None  # how the credential came: "header" (key or Bearer token), "cookie"

    @property
    def missing_scope(self):
        """Return the scope a refused request lacked, as a client names it, or None."""
        if self.reason != "scope" or self.scope is None:
            return None
        return self.scope.removeprefix(ANY_COMPONENT + ":")


def normalize_target(raw_target):
    """Return the :class:`Target` for a raw request target such as ``/a/%2e%2e/b?x=1``."""
    path, _, query = raw_target.partition("?")
    if not path.startswith("/"):
        if "://" not in path:
            return Target("/", query, False, "request target must be a path")
        # absolute-form ("GET http://host/path"): keep only the path
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    try:
        decoded = unquote_to_bytes(_wire_bytes(path)).decode("utf-8")
    except UnicodeDecodeError:
        return Target("/", query, False, "path is not valid UTF-8")
    if _CONTROL.search(decoded):
        return Target("/", query, False, "path contains control characters")
    segments = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    normalized = "/" + "/".join(segments)
    if decoded.endswith("/") and segments:
        normalized += "/"
    canonical = normalized == decoded and "%2f" not in path.lower()
    return Target(normalized, query, canonical)


def _wire_bytes(path):
    """Return the bytes a raw target was sent as; WSGI hands them over as latin-1 text."""
    try:
        return path.encode("latin-1")
    except UnicodeEncodeError:  # text from a caller rather than from the wire: take it as UTF-8
        return path.encode("utf-8")


def encode_path(path):
    """Percent-encode a normalised path for sending upstream."""
    return quote(path, safe=_PATH_SAFE)


def classify(path):
    """Map a normalised path to a :class:`Route`."""
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return Route("public")
    if path in ("/", "/auth/check", METRICS_PATH):
        return Route("local")
    if path == "/ui" or path.startswith("/ui/"):
        return Route("ui")
    parts = path.split("/")  # ["", "api", ...]
    if len(parts) < 3 or parts[1] != "api":
        return Route("unknown")
    if parts[2] == "db":
        if len(parts) < 4:
            return Route("unknown")
        name = parts[3]
        if name in NAMES:
            rest = "/".join(parts[4:])
            if not rest:
                return Route("unknown")
            return Route("forward", name, f"/api/{name}/db/{rest}")
        if name in GATEWAY_VIEWS:
            return Route("view")
        return Route("unknown")
    if parts[2] in NAMES and len(parts) >= 4 and parts[3]:
        return Route("forward", parts[2], path, websocket=parts[3] == "ws")
    return Route("unknown")


def socket_kind(path):
    """Return ``"stream"`` (a change stream), ``"job"`` (a job socket) or None for a path."""
    path = path.rstrip("/")
    if path == "/api/db/ws":
        return "stream"
    route = classify(path)
    if not route.websocket:
        return None
    return "stream" if path == f"/api/{route.component}/ws" else "job"


def is_socket_path(path):
    """Tell whether a normalised path is a WebSocket route: a job socket or a change stream."""
    return socket_kind(path) is not None


def required_scope(method, path, route):
    """Return the scope a request needs: ``read``, ``write``, ``admin`` or ``None`` (public)."""
    if method in ("GET", "HEAD") and (route.kind == "public" or path in PUBLIC_FORWARDS):
        return None
    if route.kind == "ui":  # a page checks its browser session itself (a redirect, not a 401)
        return None
    if route.kind == "forward" and route.upstream_path.rstrip("/") in ADMIN_PATHS:
        return "admin"
    if path == METRICS_PATH:
        return "admin"
    if method in READ_METHODS:
        return "read"
    if method == "POST":
        effective = route.upstream_path if route.kind == "forward" else path
        if effective in READ_ONLY_POSTS:
            return "read"
    return "write"


def scope_for(route, path, level):
    """Return the scope a request needs: ``test:write`` on a component, ``*:read`` elsewhere.

    A component route needs its component's scope (or the global one); the gateway's own
    routes (views, the index, unknown paths) need the level for at least one component, and
    each view then shows only the components its caller may read. The metrics need ``admin``.
    """
    if level is None or path == METRICS_PATH:
        return level
    if route.kind == "forward":
        return f"{route.component}:{level}"
    return f"{ANY_COMPONENT}:{level}"


def _problem_reason(problem):
    for word in ("revoked", "expired"):
        if word in problem:
            return word
    return "invalid_key"


def decide(method, raw_target, headers, store, require_canonical=False):
    """Decide whether ``method raw_target`` with ``headers`` is allowed, using key ``store``.

    ``require_canonical`` is for ``auth_request``: nginx forwards the raw URI, so a URI the gateway
    would have rewritten is refused (403) rather than authorised under its normalised meaning. An
    unusable target (control characters, invalid UTF-8) is a 400 for the gateway's own forwarding
    but a 403 there too, because nginx turns any ``auth_request`` answer but 2xx/401/403 into a 500.
    A session cookie (never a header) must also pass the session's checks: a CSRF token on
    unsafe methods, the page's own origin on WebSocket openings (``store.sessions``).
    """
    method = method.upper()
    target = normalize_target(raw_target)
    route = classify(target.path) if target.error is None else Route("unknown")
    scope = scope_for(route, target.path, required_scope(method, target.path, route))
    if scope is None and target.error is None:
        if route.kind == "ui":  # a page: its session, when valid, names the caller in logs
            return _page_decision(route, target, headers, store)
        return Decision(200, "public", route, target)
    token, via = presented_credential(headers)
    if token is None:
        message = "an API key is required (X-API-Key header)"
        return Decision(401, message, route, target, scope, reason="missing_key")
    record, problem = store.authenticate(token)
    if record is None:
        reason = _problem_reason(problem)
        message = credential_problem(token, problem)
        return Decision(401, message, route, target, scope, reason=reason, via=via)
    refused = _refusal(method, target, headers, store, token, via, require_canonical)
    if refused is not None:
        status, message, reason = refused
        return Decision(status, message, route, target, scope, record, reason=reason, via=via)
    if not key_has_scope(record.effective, scope):
        needed = scope.removeprefix(ANY_COMPONENT + ":")
        wider = " (for at least one component)" if scope.startswith(ANY_COMPONENT) else ""
        message = f"API key {record.name!r} lacks the '{needed}' scope{wider}"
        return Decision(403, message, route, target, scope, record, reason="scope", via=via)
    return Decision(200, "allowed", route, target, scope, record, token, via=via)


def _refusal(method, target, headers, store, token, via, require_canonical):
    """Return ``(status, message, reason)`` refusing a known caller's request, or None."""
    if target.error is not None:
        return 403 if require_canonical else 400, target.error, "bad_target"
    if require_canonical and not target.canonical:
        return 403, "request path is not in canonical form", "not_canonical"
    if via == "cookie":
        problem = store.sessions.cookie_problem(token, method, target.path, headers)
        if problem is not None:
            return 403, problem, "session_check"
    return None


def _page_decision(route, target, headers, store):
    """Allow a page; attach its session's key when the cookie holds a valid one."""
    token, via = presented_credential(headers)
    if via == "cookie" and getattr(store, "sessions", None) is not None:
        record, _ = store.authenticate(token)
        if record is not None:
            return Decision(200, "page", route, target, None, record, token, via=via)
    return Decision(200, "public", route, target)


def request_target(environ):
    """Return the request target as the client sent it (path and query, still encoded)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return raw
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    query = environ.get("QUERY_STRING")
    return encode_path(path) + ("?" + query if query else "")


def adopt_query_key(environ):
    """Take ``?api_key=`` as the key of a WebSocket opening that sent no key header.

    Only a GET upgrading to a WebSocket on a socket route qualifies: anywhere else the key in
    the query is left where it is (and so is not a key at all).
    """
    if (
        "api_key=" not in environ.get("QUERY_STRING", "")
        or environ.get("REQUEST_METHOD") != "GET"
        or environ.get("HTTP_UPGRADE", "").lower() != "websocket"
        or not is_socket_path(normalize_target(request_target(environ)).path)
    ):
        return
    pairs = parse_qsl(environ["QUERY_STRING"], keep_blank_values=True)
    keys = [v for k, v in pairs if k == "api_key"]
    if keys and not environ.get("HTTP_X_API_KEY") and not environ.get("HTTP_AUTHORIZATION"):
        environ["HTTP_X_API_KEY"] = keys[0]
    query = urlencode([(k, v) for k, v in pairs if k != "api_key"])
    environ["QUERY_STRING"] = query
    for name in ("RAW_URI", "REQUEST_URI"):  # the key must reach neither logs nor components
        if environ.get(name):
            environ[name] = environ[name].partition("?")[0] + ("?" + query if query else "")


_FORWARD_ROUTES = {name: f"/api/{name}/*" for name in NAMES}
_OWN_PATHS = PUBLIC_PATHS | {"/", "/auth/check", METRICS_PATH}


def metric_route(environ):
    """Return a gateway request's route label for its metrics: a bounded template, no path.

    A Flask view's rule when one answered; ``/api/{component}/*`` for a component route; the
    gateway's own fixed paths as they are; ``unmatched`` for anything else.
    """
    rule = environ.get("uas.route")
    if rule:
        return rule
    decision = environ.get("gateway.decision")
    if decision is None:  # refused or answered before routing: decide where it was going
        path = normalize_target(request_target(environ)).path
        route = classify(path)
    else:
        path, route = decision.target.path, decision.route
    if route.kind == "forward":
        return _FORWARD_ROUTES[route.component]
    if path in _OWN_PATHS:
        return path
    if route.kind == "public":
        return PUBLIC_PREFIXES[0] + "*"
    if route.kind == "view":
        return "/api/db/" + path.split("/")[3]  # one of GATEWAY_VIEWS
    return "unmatched"
