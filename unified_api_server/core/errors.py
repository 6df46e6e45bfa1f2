"""One JSON error shape for every service and every socket.

HTTP: ``{"error": {"status", "code", "message", "details"?}}``; a WebSocket message carries
the same fields (see :func:`socket_error`).
"""

import logging

from flask import jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import ClientDisconnected, HTTPException

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    422: "unprocessable_entity",
    429: "too_many_requests",
    431: "headers_too_large",
    494: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class ApiError(Exception):
    """An error the client should see, with a status, a message and optional details."""

    def __init__(self, status, message, details=None, headers=None, code=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.code = code  # a more precise code than the status's, e.g. "query_timeout"


def error_body(status, message, details=None, code=None):
    """Return the error envelope as a dict; ``code`` replaces the status's own code."""
    body = {"status": status, "code": code or _CODES.get(status, "error"), "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def socket_error(status, message, details=None):
    """Return an error message for a WebSocket: the envelope's fields, and ``error`` as text.

    A socket has no status line, so the envelope's inner fields (``status``, ``code``,
    ``message``, ``details``) travel in the message itself, marked ``type: "error"``; ``error``
    repeats the message text, which is what the original job-socket protocol's clients read.
    """
    return {"type": "error", **error_body(status, message, details)["error"], "error": message}


def error_response(status, message, details=None, headers=None, code=None):
    """Build a Flask JSON response in the shared error shape."""
    response = jsonify(error_body(status, message, details, code))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _handle_api_error(exc):
    return error_response(exc.status, exc.message, exc.details, exc.headers, exc.code)


def _first_problem(messages, path=()):
    """Return ``(field path, message)`` of the first problem in marshmallow's nested messages."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        return _first_problem(value, path if key == "_schema" else (*path, str(key)))
    if isinstance(messages, list) and messages:
        return _first_problem(messages[0], path)
    return ".".join(path), str(messages)


def _handle_validation_error(exc):
    messages = exc.normalized_messages()
    field, problem = _first_problem(messages)
    summary = f"{field}: {problem}" if field else problem
    return error_response(400, f"invalid input: {summary}", messages)


def _handle_http_exception(exc):
    headers = {}
    if exc.code == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    message = exc.description or exc.name
    if exc.code == 404:
        message = f"no route for {request.method} {request.path}"
    elif isinstance(exc, ClientDisconnected):
        if isinstance(exc.__context__, TimeoutError):
            return error_response(408, "the request body did not arrive in time")
        message = "the request body could not be read (it ended early)"
    elif exc.code == 413:
        limit = request.max_content_length
        message = f"request body too large (limit {limit} bytes)" if limit else exc.name
    return error_response(exc.code or 500, message, headers=headers)


def handle_unexpected(exc):
    """Answer an error nobody expected: logged with its traceback, a bare 500 to the client."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal server error")


def register_error_handlers(app):
    """Make every error of ``app`` answer in the shared JSON shape, never with a traceback."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(ValidationError, _handle_validation_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
