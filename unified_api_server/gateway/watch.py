"""An open WebSocket keeps answering to its key: revoked or expired, it is closed within seconds.

A key is checked when a socket opens, like any request; :class:`KeyWatch` then checks it again
every second for as long as the socket stays open (the key store caches a lookup 2 s), and
closes the socket with code 1008 and the reason when the key stops being valid, or no longer holds
the scope the socket was opened with (a role or scope taken away). A session token is watched
the same way (its key's current record). A message that changes state (``cancel``) re-checks the
key, and its scope, right then.
"""

import json
import logging
import threading

from simple_websocket.errors import SimpleWebsocketError

from unified_api_server.core.errors import socket_error
from unified_api_server.core.web.sockets import POLICY_VIOLATION
from unified_api_server.gateway.scopes import ANY_COMPONENT, credential_problem, key_has_scope

__all__ = ["POLICY_VIOLATION", "KeyWatch", "close", "cut_off", "send_error"]
log = logging.getLogger(__name__)


def send_error(ws, status, message):
    """Send an error message (the shared shape) on ``ws``, unless it is closed already."""
    try:
        ws.send(json.dumps(socket_error(status, message)))
    except (SimpleWebsocketError, OSError):
        pass


def close(ws, code=None, message=None):
    """Close ``ws`` with ``code`` and ``message``, unless it is closed already."""
    try:
        ws.close(code, message)
    except (SimpleWebsocketError, OSError):
        pass


def cut_off(ws, reason):
    """Tell ``ws`` why its key stopped working (401) and close it with 1008."""
    send_error(ws, 401, reason)
    close(ws, POLICY_VIOLATION, reason[:120])


CHECK_EVERY = 1.0  # seconds between checks of an open socket's key


class KeyWatch:
    """Re-checks the key an open socket was opened with; calls ``on_lost(reason)`` once."""

    def __init__(self, store, token, on_lost, scope=None):
        self.store = store
        self.token = token
        self.on_lost = on_lost
        self.scope = scope  # what the socket needed when it opened ("test:read", "*:read")
        self.also = ()  # more scopes it must keep (the merged stream: each component it carries)
        self._stopped = threading.Event()
        self._thread = None

    def start(self):
        """Check in the background until :meth:`stop` or the key is lost; return self."""
        if self.token is not None:
            self._thread = threading.Thread(target=self._watch, daemon=True, name="key-watch")
            self._thread.start()
        return self

    def stop(self):
        """Stop checking (the socket closed)."""
        self._stopped.set()

    def _watch(self):
        while not self._stopped.wait(CHECK_EVERY):
            try:
                problem = self.problem()
            except Exception:  # a busy or broken key store: try again next time, and say so
                log.exception("could not re-check an open socket's key")
                continue
            if problem is not None:
                self._stopped.set()
                self.on_lost(problem)
                return

    def problem(self):
        """Return why the key no longer works (``API key has been revoked``), or None."""
        if self.token is None:
            return None
        record, problem = self.store.authenticate(self.token)
        if record is None:
            return credential_problem(self.token, problem)
        for needed in (self.scope, *self.also):
            if needed is not None and not key_has_scope(record.effective, needed):
                held = needed.removeprefix(ANY_COMPONENT + ":")
                return f"API key {record.name!r} no longer holds the '{held}' scope"
        return None

    def allows(self, scope):
        """Return ``(status, reason)`` for an action needing ``scope`` now: 200, 401 or 403."""
        if self.token is None:
            return 401, "an API key is required"
        record, problem = self.store.authenticate(self.token)
        if record is None:
            return 401, credential_problem(self.token, problem)
        if not key_has_scope(record.effective, scope):
            return 403, f"the '{scope}' scope is needed for this message"
        return 200, None
