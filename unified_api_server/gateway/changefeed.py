"""Change streams through the gateway: one upstream socket per component, fanned out to clients.

``/api/{component}/ws`` and ``/api/db/ws`` (every component merged) are not relayed one to one: a
component runs gthread, where every open socket holds a thread. Each gateway worker instead keeps
ONE upstream change stream per component (opened when the first client subscribes, closed a
while after the last leaves) and gives each client the events passing its own filter (``model``,
``status``, ``id`` query parameters). A component that is down: a single-component stream is
closed with 1011 and the reason; the merged stream says so (``component_down``) and goes on with
the others, reconnecting in the background and saying ``component_up`` when it is back.
Browsers cannot set headers on a WebSocket: ``routing.adopt_query_key`` accepts ``?api_key=`` there.
"""

import logging
import threading
import time
from urllib.parse import parse_qsl

import orjson
from flask import Blueprint, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed, Server
from simple_websocket.errors import SimpleWebsocketError
from werkzeug.datastructures import MultiDict

from unified_api_server.core.data.changes import (
    DaemonThread,
    Event,
    EventFilter,
    Subscription,
    WakeEvent,
)
from unified_api_server.core.errors import ApiError, socket_error
from unified_api_server.core.metrics import socket_open
from unified_api_server.core.web.sockets import serve
from unified_api_server.gateway.identity import hidden_components
from unified_api_server.gateway.relay import RelayClient
from unified_api_server.gateway.routing import socket_kind
from unified_api_server.gateway.watch import POLICY_VIOLATION, KeyWatch, close, cut_off
from unified_api_server.registry import NAMES

log = logging.getLogger(__name__)

PING_INTERVAL = 20.0  # below nginx's proxy_read_timeout for WebSocket locations
LINGER = 15.0  # seconds an upstream stream stays open after its last subscriber left
RETRY = (0.5, 1, 2, 5)  # reconnect back-off (s)
UNREACHABLE = 1011


class Unreachable(Exception):
    """The component's change stream cannot be opened."""


class UpstreamFeed:
    """One component's change stream in this worker, shared by every subscriber."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.name = upstream.name
        self.subscribers = []
        self.client = None
        self.down_reason = None
        self._lock = threading.Lock()
        self._reader = None

    def _url(self):
        scheme = "wss" if self.upstream.url.startswith("https:") else "ws"
        return f"{scheme}:{self.upstream.url.split(':', 1)[1]}/api/{self.name}/ws"

    def _connect(self):
        try:
            client = RelayClient.connect(
                self._url(),
                ping_interval=PING_INTERVAL,
                headers={"X-Gateway-Stream": "1", **self.upstream.auth_headers},
                thread_class=DaemonThread,
            )
        except (SimpleWebsocketError, OSError) as exc:
            raise Unreachable(
                f"component '{self.name}' is unreachable ({type(exc).__name__})"
            ) from None
        client.receive(timeout=5)  # the "subscribed" greeting
        return client

    def subscribe(self, subscription):
        """Add a subscriber, opening the upstream stream if needed; raise Unreachable."""
        with self._lock:
            if self.client is None and self.down_reason is None:
                self.client = self._connect()
                self._reader = threading.Thread(
                    target=self._read, daemon=True, name=f"changes-{self.name}"
                )
                self._reader.start()
            if self.client is None:
                raise Unreachable(self.down_reason)
            self.subscribers = [*self.subscribers, subscription]

    def join_even_if_down(self, subscription):
        """Add a subscriber of the merged stream; tell it now when the component is down."""
        try:
            self.subscribe(subscription)
        except Unreachable as exc:
            with self._lock:
                self.subscribers = [*self.subscribers, subscription]
                if self._reader is None or not self._reader.is_alive():
                    self.down_reason = str(exc)
                    self._reader = threading.Thread(target=self._reconnect, daemon=True)
                    self._reader.start()
            subscription.push(_notice("component_down", self.name, str(exc)))

    def unsubscribe(self, subscription):
        """Remove a subscriber; the upstream closes after LINGER seconds without any."""
        with self._lock:
            self.subscribers = [s for s in self.subscribers if s is not subscription]

    def _read(self):
        client = self.client
        reason = f"component '{self.name}' closed its change stream"
        idle_since = None
        try:
            while True:
                text = client.receive(timeout=LINGER / 3)
                if text is None:
                    if self.subscribers:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > LINGER:
                        with self._lock:
                            if not self.subscribers:
                                self.client = None
                                close(client)
                                return
                    continue
                event = Event.from_text(text)
                for subscription in self.subscribers:
                    subscription.offer(event)
        except (ConnectionClosed, SimpleWebsocketError, OSError, ValueError) as exc:
            log.warning("change stream of %s lost: %s", self.name, type(exc).__name__)
        with self._lock:
            self.client = None
            self.down_reason = reason
            subscribers = self.subscribers
        close(client)
        for subscription in subscribers:
            subscription.push(_notice("component_down", self.name, reason))
        self._reconnect()

    def _reconnect(self):
        attempt = 0
        while True:
            time.sleep(RETRY[min(attempt, len(RETRY) - 1)])
            attempt += 1
            with self._lock:
                if not self.subscribers:
                    self.down_reason = None
                    return
                try:
                    self.client = self._connect()
                except Unreachable:
                    continue
                self.down_reason = None
                subscribers = self.subscribers
            for subscription in subscribers:
                subscription.push(_notice("component_up", self.name, "change stream restored"))
            self._read()
            return


def _notice(kind, component, reason):
    return Event({"type": kind, "component": component, "reason": reason})


class _Fan:
    """Unsubscribes one client's subscription from every feed it joined."""

    def __init__(self, feeds):
        self.feeds = feeds

    def unsubscribe(self, subscription):
        """Leave every feed."""
        for feed in self.feeds:
            feed.unsubscribe(subscription)


def feed_for(upstream):
    """Return the worker's change feed of ``upstream``, creating it on first use."""
    feed = getattr(upstream, "change_feed", None)
    if feed is None:
        feed = upstream.change_feed = UpstreamFeed(upstream)
    return feed


def stream(ws, feeds, args, merged, watch, hidden=None):
    """Serve one client: subscribe with its filter and pump events until it closes.

    ``hidden``: components left out because the caller may not read them (name -> why).
    """
    try:
        event_filter = EventFilter.from_args(args)
    except ApiError as exc:
        ws.send(orjson.dumps(socket_error(exc.status, exc.message)).decode())
        close(ws, POLICY_VIOLATION, exc.message[:120])
        return
    subscription = Subscription(_Fan(feeds), event_filter)
    for feed in feeds:
        if merged:
            feed.join_even_if_down(subscription)
            continue
        try:
            feed.subscribe(subscription)
        except Unreachable as exc:
            ws.send(orjson.dumps(socket_error(502, str(exc), {"component": feed.name})).decode())
            close(ws, UNREACHABLE, str(exc)[:120])
            return
    greeting = {"type": "subscribed", "components": [f.name for f in feeds]}
    if hidden:
        greeting["forbidden"] = hidden
    ws.send(orjson.dumps(greeting).decode())

    def on_events(events):
        for event in events:
            if not merged and event.fields.get("type") == "component_down":
                close(ws, UNREACHABLE, event.fields["reason"][:120])
                return
            ws.send(event.text)

    def on_message(message):
        if isinstance(message, str) and message.strip().lower() == "ping":
            ws.send('{"pong":true}')

    watch.start()
    try:
        with socket_open("change_stream"):
            serve(ws, subscription, on_events, on_message)
    except (ConnectionClosed, SimpleWebsocketError, OSError):
        subscription.close()
    finally:
        watch.stop()


def _watch(ws, store, decision):
    """Return the watch closing ``ws`` (1008 and the reason) when its key stops working."""
    token, scope = (decision.token, decision.scope) if decision else (None, None)
    return KeyWatch(store, token, lambda why: cut_off(ws, why), scope)


def serve_component_stream(environ, upstream, decision, store):
    """Accept ``/api/{component}/ws`` and stream that component's changes (a WSGI app's body)."""
    ws = Server(
        environ, ping_interval=PING_INTERVAL, event_class=WakeEvent, thread_class=DaemonThread
    )
    args = MultiDict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    try:
        stream(ws, [feed_for(upstream)], args, merged=False, watch=_watch(ws, store, decision))
    finally:
        close(ws)
    if ws.mode == "gunicorn":
        raise StopIteration()
    return []


def is_change_stream(path_qs):
    """Tell whether a forwarded WebSocket path is a component's change stream."""
    return socket_kind(path_qs.partition("?")[0]) == "stream"


bp = Blueprint("gateway_changes", __name__)
sock = Sock()


@sock.route("/api/db/ws", bp=bp)
def merged_stream(ws):
    """Stream the changes of every component, merged, filtered by model, status and id."""
    state = current_app.extensions["gateway"]
    hidden = hidden_components()  # a key reading only some components hears only theirs
    feeds = [feed_for(state.upstreams[name]) for name in NAMES if name not in hidden]
    watch = _watch(ws, state.store, request.environ.get("gateway.decision"))
    watch.also = tuple(f"{feed.name}:read" for feed in feeds)  # losing one closes the stream
    stream(ws, feeds, request.args, merged=True, watch=watch, hidden=hidden)


def init_app(app):
    """Register ``/api/db/ws`` on the gateway app."""
    app.config["SOCK_SERVER_OPTIONS"] = {
        "ping_interval": PING_INTERVAL,
        "event_class": WakeEvent,
        "thread_class": DaemonThread,
    }
    app.register_blueprint(bp)
