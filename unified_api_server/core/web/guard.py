"""Who may reach a component, and for how long: the gateway and nginx, with their credential.

With ``internal_token`` set, every request but ``GET /health`` must carry it in
``X-Internal-Token`` (compared in constant time), or it is refused before its body is read.
Without one a component is in development mode: it listens on loopback only, and says so.

Every read of a request's body has a deadline (``body_timeout``): a client that stops sending
gets 408 and gives its thread back. (The gateway and nginx read bodies in full before they
forward them, so this guards against a broken or hostile direct caller.)
"""

import hmac
import ipaddress
import logging
import socket

import click
from flask import request
from werkzeug.exceptions import HTTPException

from unified_api_server.core.errors import error_response

log = logging.getLogger(__name__)
HEADER = "X-Internal-Token"


def require_internal_token(token):
    """Return a ``before_request`` hook refusing requests without the internal credential."""
    expected = token.encode("utf-8")

    def check():
        if request.path == "/health":
            return None
        given = request.headers.get(HEADER, "").encode("utf-8")
        if hmac.compare_digest(given, expected):
            return None
        _stop_reading()  # never wait for a body nobody will read
        return error_response(
            401,
            "this service is reached through the gateway only (internal credential missing or "
            "wrong)",
        )

    return check


def _has_body():
    return bool(request.content_length) or "HTTP_TRANSFER_ENCODING" in request.environ


def read_deadline(seconds):
    """Return a ``before_request`` hook bounding each read of a request body on the socket."""

    def arm():
        sock = request.environ.get("gunicorn.socket")
        if sock is not None and _has_body():
            sock.settimeout(seconds)  # disarmed by finish_body before the answer is written

    return arm


DRAIN_AT_MOST = 1024 * 1024  # an unread body up to this size is read and dropped


def finish_body(response):
    """``after_request``: leave no body behind on a kept-alive connection; disarm the deadline.

    A view that did not read the body (a GET with one, a refusal) would leave it in the socket:
    gunicorn drains only 64 KiB of it, and the next request on that connection would fail. What
    is left, up to :data:`DRAIN_AT_MOST`, is read and dropped; past that, or when the client has
    stopped sending, the reading side is closed and the connection ends after the answer. The
    socket's read deadline is lifted before the answer goes out, so a slow reader of a long
    export is bound by the gateway's and nginx's timeouts only.
    """
    if not _has_body():
        return response
    left = 0
    try:
        while left <= DRAIN_AT_MOST and (chunk := request.stream.read(64 * 1024)):
            left += len(chunk)
    except (OSError, HTTPException):  # gone, too slow, or too large
        left = DRAIN_AT_MOST + 1
    if left > DRAIN_AT_MOST:
        _stop_reading()
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(None)
    return response


def _stop_reading():
    """Close the connection's reading side: gunicorn then ends it after the answer instead of
    reading (and waiting for) the rest of a body to keep the connection alive."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass


def is_loopback(host):
    """Tell whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_only(settings, title):
    """Refuse to serve beyond loopback without an internal credential; say which mode runs."""
    if settings["internal_token"]:
        log.info("%s requires the internal credential (X-Internal-Token)", title)
        return
    if not is_loopback(settings["host"]):
        raise click.ClickException(
            f"refusing to listen on {settings['host']} with no internal_token: anyone on the "
            "network could read and write every record. Set UAS_INTERNAL_TOKEN (the launcher "
            "does), or listen on 127.0.0.1"
        )
    log.warning(
        "%s is in development mode: no internal_token, so it listens on loopback only",
        title,
    )
