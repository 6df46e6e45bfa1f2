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


def read_deadline(seconds):
    """Return a ``before_request`` hook bounding each read of the request's socket."""

    def arm():
        sock = request.environ.get("gunicorn.socket")
        if sock is not None and request.content_length != 0:
            sock.settimeout(seconds)  # gunicorn sets blocking mode again for the next request

    return arm


DRAIN_AT_MOST = 1024 * 1024  # an unread body up to this size is read and dropped


def finish_body(response):
    """``after_request``: never leave part of a body on a connection that stays open.

    A view that did not read the body (a GET with one, a refusal) would leave it in the socket,
    and the next request on that kept-alive connection would be read from the middle of it. A
    small body is read and dropped; past :data:`DRAIN_AT_MOST`, the connection ends instead.
    """
    length = request.content_length
    if not length and "HTTP_TRANSFER_ENCODING" not in request.environ:
        return response
    try:
        stream = request.stream
        if length and length <= DRAIN_AT_MOST and not stream.is_exhausted:
            stream.exhaust()
        drained = bool(length) and stream.is_exhausted
    except (OSError, HTTPException):  # gone, too slow, or too large: end the connection
        drained = False
    if not drained:
        response.headers["Connection"] = "close"
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
