"""One log line per request and an ``X-Request-ID`` on every answer, for every service.

:class:`RequestLog` wraps a service's whole WSGI app (the gateway's front door included), so
every answer carries the id, errors and refusals too. The id is the caller's ``X-Request-ID``
when it is sane (the gateway and nginx always send one), else a new one; the app sees the chosen
id in that same header, so the gateway forwards it and a component logs it: one id follows a
request through nginx, the gateway and the component.

The line says method, path (``?api_key=`` values masked), route where Flask matched one, status,
milliseconds, body bytes sent, the request id and, at the gateway, the key's name (never a key).
"""

import logging
import re
import time
import uuid

from flask import request

log = logging.getLogger("unified_api_server.requests")

_REQUEST_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
# A browser's WebSocket carries its key in the query: the value never reaches a log.
_SECRET_QUERY = re.compile(r"((?:^|&)api_key=)[^&]*", re.IGNORECASE)


def request_id_from(environ):
    """Return the caller's ``X-Request-ID`` when it is sane, else a new one."""
    given = environ.get("HTTP_X_REQUEST_ID")
    if given and len(given) <= 128 and set(given) <= _REQUEST_ID_CHARS:
        return given
    return uuid.uuid4().hex


def logged_path(environ):
    """Return the request's path and query as sent, secrets in the query masked."""
    path = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
    path, _, query = path.partition("?")
    query = query or environ.get("QUERY_STRING", "")
    if "api_key" in query.lower():
        query = _SECRET_QUERY.sub(r"\1REDACTED", query)
    text = f"{path}?{query}" if query else path
    # A decoded path may hold control characters: escape them, one request stays one line.
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


class _Entry:
    """What is known of one request until its answer is sent."""

    __slots__ = ("environ", "key", "request_id", "sent", "started", "status")

    def __init__(self, environ, request_id, key):
        self.environ = environ
        self.request_id = request_id
        self.key = key
        self.started = time.perf_counter()
        self.status = None
        self.sent = 0

    def finish(self, status=None, aborted=False):
        """Log the request's line."""
        if not log.isEnabledFor(logging.INFO):
            return
        environ = self.environ
        fields = {
            "method": environ.get("REQUEST_METHOD", ""),
            "path": logged_path(environ),
            "route": environ.get("uas.route"),
            "status": int(self.status or status or 500),
            "ms": round((time.perf_counter() - self.started) * 1000, 1),
            "bytes": self.sent,
            "request_id": self.request_id,
            "key": environ.get("uas.key_name") or self.key,
            "aborted": True if aborted else None,
        }
        text = " ".join(f"{name}={value}" for name, value in fields.items() if value is not None)
        log.info("request %s", text, extra=fields)


class _Counted:
    """The answer's body, passed on chunk by chunk and counted; logs the request when closed."""

    __slots__ = ("body", "entry", "finished")

    def __init__(self, body, entry):
        self.body = body
        self.entry = entry
        self.finished = False

    def __iter__(self):
        for chunk in self.body:
            self.entry.sent += len(chunk)
            yield chunk
        self.finished = True

    def close(self):
        """Close the app's body, then log (``aborted`` when it was not sent in full)."""
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.entry.finish(aborted=not self.finished)


class RequestLog:
    """WSGI middleware: choose the request id, add ``X-Request-ID`` to the answer, log the line.

    ``key_header``: log the key name the caller states in ``X-API-Key-Name`` (a component, which
    the gateway tells); the gateway names the key it checked itself (``environ["uas.key_name"]``).
    """

    def __init__(self, app, key_header=False):
        self.app = app
        self.key_header = key_header

    def __call__(self, environ, start_response):
        """Serve the request through the wrapped app, then log it."""
        request_id = request_id_from(environ)
        environ["HTTP_X_REQUEST_ID"] = request_id  # the app (and what it forwards) uses this id
        key = (environ.get("HTTP_X_API_KEY_NAME") or None) if self.key_header else None
        entry = _Entry(environ, request_id, key)

        def start(status, headers, exc_info=None):
            entry.status = status[:3]
            if not any(name.lower() == "x-request-id" for name, _ in headers):
                headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start)
        except StopIteration:  # gunicorn ends a finished WebSocket this way
            entry.finish(status=101)
            raise
        except BaseException:
            entry.finish()
            raise
        if isinstance(body, list):  # answered in full already: no need to count chunk by chunk
            entry.sent = sum(len(chunk) for chunk in body)
            entry.finish()
            return body
        return _Counted(body, entry)


def remember_route():
    """Flask ``before_request``: note the matched route's rule, for the request's log line."""
    if request.url_rule is not None:
        request.environ["uas.route"] = request.url_rule.rule


def init_app(app, key_header=False):
    """Log every request of ``app`` and put an ``X-Request-ID`` on every answer.

    Call it before registering other ``before_request`` hooks: one that answers (a refusal)
    skips the hooks after it.
    """
    app.before_request(remember_route)
    app.wsgi_app = RequestLog(app.wsgi_app, key_header)
