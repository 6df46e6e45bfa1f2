"""Sign in and out of the dashboard: ``/ui/login`` trades an API key for a session cookie.

The cookie holds the session token (:mod:`.sessions`): HttpOnly (page scripts cannot read it),
SameSite=Strict (no other site's page can send it), Secure when the request came over https
(directly or as ``X-Forwarded-Proto: https``), and lasting ``session_ttl`` seconds. After signing
in the browser goes to ``next`` when that is a dashboard path, else to ``/ui/``: never elsewhere.
"""

import re
from urllib.parse import urlsplit

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
    """End the browser's session: clear the cookie and go back to the sign-in form."""
    response = redirect("/ui/login", 303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_is_https(), httponly=True, samesite="Strict"
    )
    return response
