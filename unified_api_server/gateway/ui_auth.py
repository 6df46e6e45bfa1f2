"""Sign in and out of the dashboard: ``/ui/login`` trades an API key for a session cookie.

The cookie holds the session token (:mod:`.sessions`): HttpOnly (page scripts cannot read it),
SameSite=Strict (no other site's page can send it), Secure when the request came over https
(directly or as ``X-Forwarded-Proto: https``), and lasting ``session_ttl`` seconds. After signing
in the browser goes to ``next`` when that is a dashboard path, else to ``/ui/``: never elsewhere.
Signing out (``POST /ui/logout``) ends the token itself, not only the cookie.
"""

import re
from urllib.parse import urlsplit

import jwt
from flask import Blueprint, redirect, render_template, request

from unified_api_server.gateway import sessions
from unified_api_server.gateway.scopes import SESSION_COOKIE, is_session_token

bp = Blueprint("ui_auth", __name__, url_prefix="/ui")
HOME = "/ui/"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(target):
    """Return ``target`` when it is a local ``/ui`` path (with its query), else ``/ui/``."""
    if not target or _UNSAFE.search(target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return HOME
    if parts.path != "/ui" and not parts.path.startswith("/ui/"):
        return HOME
    if "/../" in parts.path + "/" or "/./" in parts.path + "/":
        return HOME
    return parts.path + ("?" + parts.query if parts.query else "")


def _is_https():
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.scheme == "https" or forwarded == "https"


def _form(status=200, message=None):
    html = render_template(
        "ui/login.html.j2",
        title="Sign in",
        message=message,
        next_path=safe_next(request.values.get("next")),
        session_minutes=max(1, sessions.tokens().ttl // 60),
        identity=sessions.current(),
        csrf_token=sessions.csrf_token(),
        fragment=False,
    )
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/login")
def login_form():
    """Show the sign-in form."""
    return _form()


@bp.post("/login")
def login():
    """Check the API key; on success set the session cookie and go on to ``next``."""
    key = (request.form.get("api_key") or "").strip()
    if not key:
        return _form(401, "Enter an API key.")
    if is_session_token(key):
        return _form(401, "That is a session token; sign in with an API key (uas_…).")
    record, problem = sessions.tokens().store.authenticate(key)
    if record is None:
        return _form(401, f"That API key {problem}.")
    request.environ["uas.key_name"] = record.name  # the request's log line
    token, _ = sessions.tokens().issue(record)
    response = redirect(safe_next(request.form.get("next")), 303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=sessions.tokens().ttl,
        path="/",
        secure=_is_https(),
        httponly=True,
        samesite="Strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/logout")
def logout():
    """End the session: the cookie's token (and a Bearer token sent instead) stops working on
    every gateway, the cookie is cleared and the browser goes back to the sign-in form; a
    script signing out its Bearer token gets 204."""
    bearer = _bearer_token()
    for token in (request.cookies.get(SESSION_COOKIE), bearer):
        if token and is_session_token(token):
            _end(token)
    if bearer and SESSION_COOKIE not in request.cookies:
        return "", 204, {"Cache-Control": "no-store"}
    response = redirect("/ui/login", 303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_is_https(), httponly=True, samesite="Strict"
    )
    return response


def _bearer_token():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _end(token):
    """End the session ``token`` when it is a valid one (an expired or forged one: nothing)."""
    try:
        claims = sessions.tokens().claims(token)
    except jwt.InvalidTokenError:
        return
    sessions.tokens().ended.end(claims)
