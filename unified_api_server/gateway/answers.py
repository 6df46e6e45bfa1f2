"""The gateway's own plain-WSGI answers: errors in the shared JSON shape."""

import json
from http import HTTPStatus

from unified_api_server.core.errors import error_body
from unified_api_server.core.metrics import auth_failure


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def json_error(start_response, status, message, request_id, details=None, headers=()):
    """Answer with the shared JSON error shape from plain WSGI."""
    body = json.dumps(error_body(status, message, details)).encode("utf-8")
    response_headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Request-ID", request_id),
        *headers,
    ]
    start_response(f"{status} {_reason(status)}", response_headers)
    return [body]


_CHALLENGE = ("WWW-Authenticate", 'ApiKey realm="unified-api-server", header="X-API-Key"')


def deny(start_response, decision, request_id):
    """Answer a refused :class:`Decision` (400, 401 or 403), counting it by its reason.

    A 403 for a scope names it in ``details.missing_scope`` (``benchmark:write``) and in the
    ``X-Missing-Scope`` header.
    """
    auth_failure(decision.reason or "other")
    headers = (_CHALLENGE,) if decision.status == 401 else ()
    missing = decision.missing_scope
    details = {"missing_scope": missing} if missing else None
    if missing:  # for nginx, whose own 403 answer names it (auth_request passes no body on)
        headers = (*headers, ("X-Missing-Scope", missing))
    return json_error(
        start_response, decision.status, decision.message, request_id, details, headers
    )
