"""Browser sessions: a short-lived signed token (JWT, HS256) made from an API key.

``POST /ui/login`` (:mod:`.ui_auth`) trades an API key for a token, kept in an HttpOnly,
SameSite=Strict cookie. The same token works as ``Authorization: Bearer <token>`` anywhere on the
API. Its claims name the key (``sub``, and ``kid``: the start of the key's hash, so a later key of
the same name is not this one), its roles, ``iat``, ``exp`` and ``jti``; but every use is checked
against the key's CURRENT record (cached ``key_cache_ttl`` seconds): a revoked, expired or deleted
key ends its sessions within seconds, and changed scopes or roles apply at once. Signing out
ends the token itself, on every gateway sharing the key store (:mod:`.session_ends`).

The signing secret is the ``session_secret`` setting, or else a random one generated once into
``KEYS_DB.session-secret`` (0600), or with a PostgreSQL key store into its ``gateway_secrets``
table (the first gateway's insert wins), so every worker and every gateway sharing a store agree.

CSRF: a state-changing request authenticated by the cookie must carry the session's CSRF token
(``X-CSRF-Token``, or the form field ``csrf_token`` on ``/ui`` forms), an HMAC of the session's
``jti``; a WebSocket opened with the cookie must come from a page of the same origin. A key or
Bearer token in a header needs neither: a browser never sends one by itself.

For pages: :func:`require` guards a view, :func:`current` is the signed-in :class:`Identity`,
:func:`csrf_token` the token a page puts in its forms and its ``<meta name="csrf-token">``.
"""

import hashlib
import hmac
import os
import secrets
import time
import uuid
from functools import wraps
from urllib.parse import quote, urlsplit

import jwt
from flask import current_app, g, redirect, render_template, request

from unified_api_server.gateway.identity import Identity, mark_cache_variant
from unified_api_server.gateway.routing import READ_METHODS, is_socket_path
from unified_api_server.gateway.scopes import SESSION_COOKIE, is_session_token
from unified_api_server.gateway.session_ends import EndedSessions
from unified_api_server.gateway.sqlstore import open_database

__all__ = ["SESSION_COOKIE", "Identity", "SessionTokens", "csrf_token", "current", "require"]

ALGORITHM = "HS256"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CLAIMS = ["exp", "iat", "sub", "jti", "kid"]


def secret_path(keys_db):
    """Return the file holding the generated signing secret of the key store ``keys_db``."""
    return os.fspath(keys_db) + ".session-secret"


def load_secret(keys, configured=""):
    """Return the signing secret: ``configured``, else the key store's own (made on first use).

    ``keys`` is a :class:`~.keys.KeyStore` or its location (a file path or a PostgreSQL URL).
    """
    if configured:
        return configured.encode("utf-8")
    db = keys.db if hasattr(keys, "db") else open_database(keys)
    if db.kind == "postgresql":
        return _database_secret(db)
    path = secret_path(db.location)
    if not os.path.exists(path):
        # Written whole to a private file, then linked into place: a second process racing
        # this one either links first (and this one reads its secret) or reads this one's.
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        staged = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(staged, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(staged)
    with open(path, encoding="ascii") as handle:
        return handle.read().strip().encode("ascii")


def _database_secret(db):
    """Return the secret kept in the database ``db``, inserted once (the first insert wins)."""
    with db.transaction("schema") as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS gateway_secrets"
            " (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        connection.execute(
            "INSERT INTO gateway_secrets (name, value) VALUES ('session', ?)"
            " ON CONFLICT (name) DO NOTHING",
            (secrets.token_urlsafe(48),),
        )
        row = connection.execute("SELECT value FROM gateway_secrets WHERE name = 'session'")
        return row.fetchone()[0].encode("ascii")


class SessionTokens:
    """Issue and check the session tokens of one key store."""

    def __init__(self, store, secret, ttl, cache_size=10000):
        self.store = store
        self.secret = secret
        self.ttl = int(ttl)
        self.cache_size = cache_size
        self._verified = {}  # token -> its claims, once its signature was checked
        self.ended = EndedSessions(store.db, store.cache_ttl)

    def issue(self, record):
        """Return ``(token, claims)``: a new session of the key ``record``."""
        now = int(time.time())
        claims = {
            "sub": record.name,
            "kid": record.key_id,
            "roles": list(record.roles),
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM), claims

    def claims(self, token):
        """Return the verified claims of ``token``; raise ``jwt.InvalidTokenError``.

        A token's signature is checked once per process (PyJWT's decode costs about 0.2 ms, a
        key's cached lookup a few µs); its expiry every time.
        """
        claims = self._verified.get(token)
        if claims is None:
            options = {"require": _CLAIMS}
            claims = jwt.decode(token, self.secret, algorithms=[ALGORITHM], options=options)
            if len(self._verified) >= self.cache_size:
                self._verified.clear()
            self._verified[token] = claims
        elif claims["exp"] <= time.time():
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims

    def authenticate(self, token):
        """Return ``(record, None)`` for a live session of a usable key, else ``(None, why)``."""
        try:
            claims = self.claims(token)
        except jwt.ExpiredSignatureError:
            return None, "has expired (sign in again)"
        except jwt.InvalidTokenError:
            return None, "is not valid"
        if self.ended.is_ended(claims["jti"]):
            return None, "has ended: it was signed out"
        record = self.store.record_named(claims["sub"])
        if record is None or record.key_id != claims["kid"]:
            return None, "has ended: its API key no longer exists"
        record, problem = self.store.usable(record)
        if record is None:
            return None, f"has ended: its API key {problem}"
        return record, None

    def csrf_for(self, claims):
        """Return the CSRF token of the session with ``claims``."""
        message = f"csrf:{claims['jti']}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def csrf_matches(self, token, presented):
        """Tell whether ``presented`` is the CSRF token of the session ``token``."""
        try:
            expected = self.csrf_for(self.claims(token))
        except jwt.InvalidTokenError:
            return False
        return hmac.compare_digest(expected, (presented or "").strip())

    def cookie_problem(self, token, method, path, headers):
        """Return why a request authenticated by the cookie is refused (403), or None."""
        if method == "GET" and is_socket_path(path) and not same_origin(headers):
            return (
                "a WebSocket opened with the session cookie must come from this site's own pages"
                " (its Origin header must name this host)"
            )
        if method not in READ_METHODS:
            presented = headers.get(CSRF_HEADER)
            if not presented:
                return (
                    f"a {method} signed in by the session cookie needs the {CSRF_HEADER} header"
                    " (the page's csrf-token); scripts use Authorization: Bearer instead"
                )
            if not self.csrf_matches(token, presented):
                return f"the {CSRF_HEADER} header does not belong to this session"
        return None


def same_origin(headers):
    """Tell whether the request's ``Origin`` names the host it was sent to."""
    origin = headers.get("Origin")
    if not origin or origin == "null":
        return False
    netloc = urlsplit(origin).netloc.lower()
    hosts = {headers.get("Host"), headers.get("X-Forwarded-Host")}
    return bool(netloc) and netloc in {h.strip().lower() for h in hosts if h}


def tokens():
    """Return the gateway's :class:`SessionTokens`."""
    return current_app.extensions["gateway"].store.sessions


def _session():
    """Return ``(identity, claims)`` of the current request's cookie, or None; once a request."""
    if "uas_session" not in g:
        found = None
        token = request.cookies.get(SESSION_COOKIE)
        if token and is_session_token(token):
            record, _ = tokens().authenticate(token)
            if record is not None:
                found = Identity.of(record, "cookie"), tokens().claims(token)
                request.environ["uas.key_name"] = record.name  # the request's log line
        g.uas_session = found
    return g.uas_session


def current():
    """Return the signed-in :class:`Identity` (a valid session of a usable key), or None."""
    found = _session()
    return found[0] if found else None


def csrf_token():
    """Return the session's CSRF token for forms and ``<meta name="csrf-token">`` ("" if none)."""
    found = _session()
    return tokens().csrf_for(found[1]) if found else ""


def login_url(target=None):
    """Return ``/ui/login?next=...`` leading back to ``target`` (default: this page)."""
    if target is None:
        query = request.query_string.decode("latin-1")
        target = request.path + ("?" + query if query else "")
    return "/ui/login?next=" + quote(target, safe="/")


def forbidden(message, scope=None):
    """Answer 403 with the page naming what is missing."""
    html = render_template(
        "ui/forbidden.html.j2",
        title="Not allowed",
        message=message,
        scope=scope,
        identity=current(),
        csrf_token=csrf_token(),
        fragment=False,
    )
    return html, 403, {"Cache-Control": "no-store"}


def require(scope):
    """Decorate a ``/ui`` view: run it only for a session whose key holds ``scope``.

    No session (or an expired one, or one whose key was revoked): a redirect to sign in, and
    back. ``scope`` is ``"benchmark:write"`` (one component) or a bare level, ``"read"``: the
    global scope or that level for at least one component (the page shows what it may).
    Lacking it: 403, a page naming the missing scope.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            identity = current()
            if identity is None:
                return redirect(login_url(), 303)
            if not identity.allows(scope):
                return forbidden(f"This page needs the '{scope}' scope.", scope)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def check_page_csrf():
    """``before_request``: a form POSTed to ``/ui/...`` in a session carries its CSRF token."""
    if request.method in READ_METHODS or not request.path.startswith("/ui/"):
        return None
    if request.path == "/ui/login" or _session() is None:
        return None  # no session: nothing to forge; the page sends the browser to sign in
    presented = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    token = request.cookies.get(SESSION_COOKIE)
    if not presented:
        return forbidden(f"The form was sent without its CSRF token ({CSRF_FIELD}).")
    if not tokens().csrf_matches(token, presented):
        return forbidden("The form's CSRF token does not belong to this session; reload the page.")
    return None


def _autoescape(name):
    """Escape HTML templates, ``*.html.j2`` included (Flask's default misses that suffix)."""
    return name is None or name.endswith((".html", ".htm", ".xml", ".xhtml", ".svg", ".html.j2"))


def init_app(app, store, settings):
    """Give ``store`` its session tokens; register sign-in, sign-out and the pages' CSRF check."""
    from unified_api_server.gateway import ui_auth  # its views use this module

    secret = load_secret(store, settings["session_secret"])
    store.sessions = SessionTokens(store, secret, settings["session_ttl"])
    app.jinja_env.autoescape = _autoescape
    app.before_request(check_page_csrf)
    app.before_request(mark_cache_variant)
    app.register_blueprint(ui_auth.bp)
    return store.sessions
