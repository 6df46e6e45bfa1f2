"""Relay a WebSocket ``/api/{component}/ws/{id}`` to the component, one pump each way.

The key was checked before the upgrade (a WebSocket opening is a GET: the component's ``read``
scope). A client message ``cancel`` changes state, so it is passed on only for keys holding the
component's ``write`` (``test:write``, global ``write``, or an ``admin``); others get an error
message back. Close codes pass through in both directions. Under
gevent (monkey-patched) each open relay costs two greenlets and two sockets.
"""

import logging
import threading
import time

from simple_websocket import Client, ConnectionClosed, Server
from simple_websocket.errors import SimpleWebsocketError

from unified_api_server.core.data.changes import DaemonThread
from unified_api_server.core.metrics import socket_open
from unified_api_server.gateway.answers import json_error
from unified_api_server.gateway.upstream import log_call
from unified_api_server.gateway.watch import KeyWatch, close, cut_off, send_error

log = logging.getLogger(__name__)

_GOING_AWAY = 1001
_UNREACHABLE = 1011
_STATE_CHANGING = frozenset({"cancel"})
PING_INTERVAL = 20.0  # the gateway pings its clients: idle sockets survive proxy read timeouts


class RelayClient(Client):
    """simple-websocket's Client, also delivering a message that arrived with the 101 response.

    Its handshake reads the first event only; a status message sent right on connect (as every
    component does) would otherwise wait in the parser until the next bytes arrive.
    """

    def handshake(self):
        """Complete the handshake, then queue any messages already received.

        A close that came in the same bytes (an unknown id: an error, then close) must not fail
        the connect: the reader thread ends the connection and ``receive`` raises the close code
        after the queued messages.
        """
        super().handshake()
        if self.connected:
            self._handle_events()
            self.connected = True


def _pump(source, sink, filter_message=None):
    """Copy messages from ``source`` to ``sink`` until one side closes; close the other side."""
    reason, message = _GOING_AWAY, None
    try:
        while True:
            data = source.receive()
            if data is None:
                continue
            if filter_message is not None and filter_message(data):
                continue
            sink.send(data)
    except ConnectionClosed as exc:
        reason, message = exc.reason, exc.message
    except (SimpleWebsocketError, OSError):
        pass
    close(sink, reason if reason not in (None, 1005, 1006) else _GOING_AWAY, message)
    close(source)


def _close_unreachable(environ, message):
    """Accept the client's socket, say why in a message, and close it with 1011."""
    server = Server(environ, thread_class=DaemonThread)
    send_error(server, 502, message)
    close(server, _UNREACHABLE, message[:120])
    if server.mode == "gunicorn":
        raise StopIteration()
    return []


def _upstream_url(upstream, path_qs):
    scheme = "wss" if upstream.url.startswith("https:") else "ws"
    return f"{scheme}:{upstream.url.split(':', 1)[1]}{path_qs}"


def relay_websocket(environ, start_response, upstream, path_qs, decision, store):
    """Open the component's socket, accept the client's, and pump both ways until either closes."""
    # Late import: changefeed imports this module.
    from unified_api_server.gateway.changefeed import is_change_stream, serve_component_stream

    request_id = environ["gateway.request_id"]
    if is_change_stream(path_qs):  # one shared upstream stream, fanned out
        log_call(upstream.name, "WS", path_qs, "stream", time.perf_counter(), request_id)
        return serve_component_stream(environ, upstream, decision, store)
    started = time.perf_counter()
    client, refusal = _open_upstream(environ, start_response, upstream, path_qs, started)
    if client is None:
        return refusal
    try:
        server = Server(environ, ping_interval=PING_INTERVAL, thread_class=DaemonThread)
    except (SimpleWebsocketError, OSError):
        close(client)
        return json_error(start_response, 400, "WebSocket handshake failed", request_id)
    log_call(upstream.name, "WS", path_qs, 101, started, request_id)
    with socket_open("relay"):
        _relay(server, client, KeyWatch(store, decision.token, None, decision.scope))
    log_call(upstream.name, "WS", path_qs, "closed", started, request_id)
    if server.mode == "gunicorn":
        raise StopIteration()
    return []


def _open_upstream(environ, start_response, upstream, path_qs, started):
    """Return ``(client socket, None)``, or ``(None, the answer saying why not)``."""
    request_id = environ["gateway.request_id"]
    headers = {
        "X-Request-ID": request_id,
        "X-Forwarded-For": environ.get("REMOTE_ADDR", ""),
        **upstream.auth_headers,
    }
    try:
        client = RelayClient.connect(
            _upstream_url(upstream, path_qs), headers=headers, thread_class=DaemonThread
        )
        return client, None
    except (SimpleWebsocketError, OSError) as exc:
        refused = getattr(exc, "status_code", None)
        status = refused if refused and 400 <= refused < 500 else 502
        log_call(upstream.name, "WS", path_qs, status, started, request_id, failed=status == 502)
        details = {"component": upstream.name, "reason": type(exc).__name__}
        message = f"component '{upstream.name}' " + (
            f"refused the WebSocket ({refused})" if status != 502 else "is unreachable"
        )
        if status == 502:  # a browser sees no HTTP status: accept, then close 1011 with the reason
            return None, _close_unreachable(environ, message)
        return None, json_error(start_response, status, message, request_id, details)


def _relay(server, client, watch):
    """Pump both ways until either side closes, the key stops working, or a cancel is refused."""

    def lost(reason):
        cut_off(server, reason)
        close(client)

    def refuse_state_change(data):
        if not isinstance(data, str) or data.strip().lower() not in _STATE_CHANGING:
            return False
        component = (watch.scope or "").rpartition(":")[0]
        needed = f"{component}:write" if component else "write"
        status, reason = watch.allows(needed)  # every cancel re-checks the key
        if status == 200:
            return False
        if status == 401:
            lost(reason)
        else:
            send_error(server, status, reason)
        return True

    watch.on_lost = lost
    watch.start()
    downstream = threading.Thread(target=_pump, args=(client, server), daemon=True)
    downstream.start()
    try:
        _pump(server, client, refuse_state_change)
        downstream.join(timeout=5)
    finally:
        watch.stop()
