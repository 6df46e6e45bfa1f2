"""WebSockets of a component: its change stream and the live status of one job.

``/api/<name>/ws``: every change to the component's database (created, updated, deleted,
bulk_created), filtered by ``model``, ``status`` and ``id`` query parameters.
``/api/<name>/ws/<id>``: the original protocol: the job's status JSON on connect (or an error
message, see :func:`~unified_api_server.core.errors.socket_error`, and close 1008 for an unknown
id), the full status JSON again on every change,
and answers to the client's ``ping`` (``{"pong": true}``), ``status`` and ``cancel``.

Under gthread an open socket holds a request thread, so sockets are capped (``max_websockets``,
then close 1013 "try again later"); the gateway holds one change stream per component and worker
and fans it out, so clients never cost the component a thread each for the change stream.
"""

import orjson
from flask import current_app, request
from flask_sock import ConnectionClosed, Sock

from unified_api_server.core.data.changes import DaemonThread, EventFilter, WakeEvent
from unified_api_server.core.errors import ApiError, socket_error
from unified_api_server.core.jobs.status import item_status
from unified_api_server.core.metrics import socket_open
from unified_api_server.core.settings import Setting
from unified_api_server.core.web.slots import Slots

SETTINGS = (
    Setting(
        "ws_ping_interval",
        float,
        20.0,
        "seconds between WebSocket pings (keep below the proxy's read timeout)",
        minimum=1.0,
    ),
    Setting("max_websockets", int, 0, "open WebSockets at most (0: half the threads)", minimum=0),
)
IDLE_POLL = 5.0  # seconds a handler sleeps when nothing happens (wake-ups come sooner)
TRY_AGAIN_LATER = 1013
POLICY_VIOLATION = 1008


def _send(ws, body):
    ws.send(body if isinstance(body, str) else orjson.dumps(body).decode())


def serve(ws, subscription, on_events, on_message):
    """Pump events to the client and the client's messages to ``on_message`` until it closes."""
    ws.event.subscription = subscription
    subscription.wake()  # a message may have arrived before the link
    try:
        while ws.connected:
            events = subscription.wait(IDLE_POLL)
            if subscription.dropped:
                _send(ws, {"type": "overflow", "dropped": subscription.dropped})
                subscription.dropped = 0
            if events:
                on_events(events)
            while True:
                message = ws.receive(timeout=0)
                if message is None:
                    break
                on_message(message)
    finally:
        subscription.close()


def register_sockets(app, component):
    """Add the component's two WebSocket routes to ``app``, at most ``max_websockets`` open."""
    settings = app.extensions["component"].settings
    app.config["SOCK_SERVER_OPTIONS"] = {
        "ping_interval": settings["ws_ping_interval"],
        "event_class": WakeEvent,
        "thread_class": DaemonThread,
    }
    slots = Slots(settings["max_websockets"] or max(1, settings["threads"] // 2), "WebSockets")
    sock = Sock(app)

    def guarded(handler, kind):
        def run(ws, **kwargs):
            try:
                release = slots.take("this socket")
            except ApiError as exc:
                _send(ws, socket_error(503, exc.message))
                ws.close(TRY_AGAIN_LATER, exc.message[:120])
                return
            try:
                with socket_open(kind):
                    handler(ws, **kwargs)
            finally:
                release()

        run.__name__, run.__doc__ = handler.__name__, handler.__doc__
        return run

    prefix = f"/api/{component.name}/ws"
    sock.route(prefix)(guarded(change_stream, "change_stream"))
    sock.route(f"{prefix}/<job_id>")(guarded(job_socket, "job"))


def change_stream(ws):
    """Stream the component's database changes, filtered by model, status and id."""
    state = current_app.extensions["component"]
    try:
        event_filter = EventFilter.from_args(request.args)
    except ApiError as exc:
        _send(ws, socket_error(exc.status, exc.message))
        ws.close(POLICY_VIOLATION, exc.message[:120])
        return
    subscription = state.changes.subscribe(event_filter)
    kinds = (("model", "models"), ("status", "statuses"), ("id", "ids"))
    chosen = {key: sorted(getattr(event_filter, attribute)) for key, attribute in kinds}
    _send(ws, {"type": "subscribed", "component": state.component.name, "filter": chosen})

    def on_events(events):
        for event in events:
            _send(ws, event.text)

    def on_message(message):
        if message.strip().lower() == "ping":
            _send(ws, {"pong": True})

    serve(ws, subscription, on_events, on_message)


def job_socket(ws, job_id):
    """Send a job's status on connect and on every change; answer ping, status, cancel."""
    state = current_app.extensions["component"]
    subscription = state.changes.subscribe(EventFilter(ids=[job_id]))
    body = _status(state, job_id)
    if body is None:
        subscription.close()
        message = f"no {state.component.entity} or batch {job_id!r}"
        _send(ws, socket_error(404, message))
        ws.close(POLICY_VIOLATION, message[:120])
        return
    _send(ws, body)
    answers = {
        "ping": lambda: {"pong": True},
        "status": lambda: _status(state, job_id),
        "cancel": lambda: _cancel(state, job_id),
    }

    def on_message(message):
        answer = answers.get(message.strip().lower())
        text = f"unknown message {message[:64]!r}; send ping, status or cancel"
        _send(ws, answer() if answer else socket_error(400, text))

    try:
        serve(ws, subscription, lambda _events: _send(ws, _status(state, job_id)), on_message)
    except ConnectionClosed:
        pass


def _status(state, job_id):
    cursor = state.database.cursor()
    try:
        if state.jobs:
            return state.jobs.status(cursor, job_id)
        item = state.reads.get(cursor, job_id, children=False)
        return None if item is None else item_status(state.component, item)
    finally:
        cursor.close()


def _cancel(state, job_id):
    if state.jobs is None:
        return socket_error(409, "this component runs no jobs")
    cancelled = state.jobs.cancel(job_id)
    if not cancelled:
        return socket_error(409, f"{job_id!r} is not a running or queued job of this component")
    return {"cancelled": True, "ids": cancelled}
