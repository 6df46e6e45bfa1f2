"""Scopes and credentials: what a key may do, and how a request presents its key or session.

A scope is global (``read``, ``write``, ``admin``) or a component's (``test:read``,
``benchmark:write``, ``generator:admin``): the level on that component only. ``admin`` allows
everything (a component's ``admin`` everything on that component); ``write`` does not imply
``read``. A request presents an API key (``X-API-Key`` or ``Authorization: Bearer``), a signed
session token (``Authorization: Bearer``, see :mod:`.sessions`), or the browser's session cookie.
"""

from unified_api_server.registry import NAMES

# Global scopes; each also exists per component ("test:read", "benchmark:write", ...), allowing
# that level on that component only. "admin" allows everything; "write" does not imply "read".
SCOPES = ("read", "write", "admin")
COMPONENT_SCOPES = tuple(f"{name}:{level}" for name in NAMES for level in SCOPES)
ALL_SCOPES = SCOPES + COMPONENT_SCOPES
# A cross-component route needs "*:LEVEL": LEVEL globally or for at least one component.
ANY_COMPONENT = "*"
# The browser session's cookie (a signed token, see gateway/sessions.py).
SESSION_COOKIE = "uas_session"


def key_has_scope(scopes, needed):
    """Tell whether a key holding ``scopes`` may act with ``needed``; admin may do anything.

    ``needed`` is a global scope (``read``), a component's (``test:write``: that scope, the
    component's ``admin`` or the global level), or ``*:read`` (the global level, or that level or
    ``admin`` for at least one component).
    """
    if needed is None or "admin" in scopes or needed in scopes:
        return True
    component, _, level = needed.rpartition(":")
    if not component:
        return False  # a global scope the key does not hold
    if level in scopes:
        return True
    if component == ANY_COMPONENT:
        return any(f"{c}:{level}" in scopes or f"{c}:admin" in scopes for c in NAMES)
    return f"{component}:admin" in scopes


def presented_key(headers):
    """Return the API key from ``X-API-Key`` or ``Authorization: Bearer``, or None."""
    key = headers.get("X-API-Key")
    if key:
        return key.strip() or None
    auth = headers.get("Authorization")
    if auth:
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def presented_credential(headers):
    """Return ``(credential, via)``: a key or token from the headers, else the session cookie."""
    key = presented_key(headers)
    if key is not None:
        return key, "header"
    cookies = headers.get("Cookie")
    if cookies and SESSION_COOKIE in cookies:
        for part in cookies.split(";"):  # a token needs no quoting: no full cookie parser
            name, _, token = part.strip().partition("=")
            if name == SESSION_COOKIE and is_session_token(token.strip('"')):
                return token.strip('"'), "cookie"  # a session only, never a key in a cookie
    return None, None


def is_session_token(token):
    """Tell whether ``token`` is a signed session token (a JWT) rather than an API key."""
    return token.startswith("eyJ") and token.count(".") == 2


def credential_problem(token, problem):
    """Return the message for a refused credential: ``API key has been revoked``, ..."""
    return f"{'session' if is_session_token(token) else 'API key'} {problem}"
