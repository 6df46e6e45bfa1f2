"""The change feed of one component process: every write to its database, as events, to subscribers.

The write path (:class:`~unified_api_server.core.data.writes.Writes`) publishes an event after
each committed write (a bulk load is ONE event with its row count and distinct model names,
never one per row); WebSocket handlers subscribe with a filter. Subscribers never slow a writer
down: each has a bounded buffer, and when a slow one falls behind, its oldest events are dropped
and counted (the socket reports the count).
"""

import threading
from collections import deque
from datetime import UTC, datetime

import orjson

from unified_api_server.core.errors import ApiError

BUFFER = 1000  # events kept per subscriber before the oldest are dropped
FILTER_FIELDS = ("model", "status", "id")


def _now():
    return datetime.now(UTC).isoformat()


class Event:
    """One change: its fields (for filtering) and its JSON text (built once, sent to many)."""

    __slots__ = ("fields", "text")

    def __init__(self, fields, text=None):
        self.fields = fields
        self.text = text if text is not None else orjson.dumps(fields, default=str).decode()

    @classmethod
    def from_text(cls, text):
        """Rebuild an event from its JSON text (a relay filters without re-encoding it)."""
        return cls(orjson.loads(text), text)


class EventFilter:
    """Which events a subscriber wants: any model, status and id it named (AND across kinds)."""

    def __init__(self, models=(), statuses=(), ids=()):
        self.models = frozenset(models)
        self.statuses = frozenset(statuses)
        self.ids = frozenset(ids)

    @classmethod
    def from_args(cls, args):
        """Build a filter from query parameters ``model``, ``status`` and ``id`` (repeatable)."""
        unknown = sorted(set(args) - set(FILTER_FIELDS) - {"api_key"})
        if unknown:
            raise ApiError(
                400, f"unknown filter(s) {', '.join(unknown)}; use {', '.join(FILTER_FIELDS)}"
            )
        values = {
            name: [v for raw in args.getlist(name) for v in raw.split(",") if v]
            for name in FILTER_FIELDS
        }
        return cls(values["model"], values["status"], values["id"])

    def matches(self, fields):
        """Tell whether ``fields`` of an event pass this filter."""
        if self.ids and fields.get("id") not in self.ids and fields.get("batch_id") not in self.ids:
            return False
        if self.models and not self._any(fields, "model_name", "model_names", self.models):
            return False
        return not (self.statuses and not self._any(fields, "status", "statuses", self.statuses))

    @staticmethod
    def _any(fields, single, many, wanted):
        if fields.get(single) in wanted:
            return True
        return any(value in wanted for value in fields.get(many) or ())


class Subscription:
    """A subscriber's bounded buffer; ``wait`` returns pending events or an empty list."""

    def __init__(self, feed, event_filter):
        self.feed = feed
        self.filter = event_filter
        self.dropped = 0
        self._events = deque()
        self._ready = threading.Condition(threading.Lock())
        self._woken = False

    def offer(self, event):
        """Queue ``event`` if it passes the filter (called by the publisher)."""
        if self.filter.matches(event.fields):
            self.push(event)

    def push(self, event):
        """Queue ``event`` whatever the filter says (notices about the stream itself)."""
        with self._ready:
            if len(self._events) >= BUFFER:
                self._events.popleft()
                self.dropped += 1
            self._events.append(event)
            self._ready.notify()

    def wake(self):
        """Make a pending ``wait`` return now (the socket received something)."""
        with self._ready:
            self._woken = True
            self._ready.notify()

    def wait(self, timeout):
        """Return the queued events, waiting up to ``timeout`` seconds for the first one."""
        with self._ready:
            if not self._events and not self._woken:
                self._ready.wait(timeout)
            self._woken = False
            events = list(self._events)
            self._events.clear()
        return events

    def close(self):
        """Stop receiving events."""
        self.feed.unsubscribe(self)


class WakeEvent(threading.Event):
    """A WebSocket's "message received" event that also wakes a linked :class:`Subscription`.

    Passed as simple-websocket's ``event_class``, it lets one thread wait for both the feed's
    events and the client's messages (``ping``, ``status``, ``cancel``) without polling.
    """

    subscription = None

    def set(self):
        """Set the event and wake the linked subscription."""
        super().set()
        subscription = self.subscription
        if subscription is not None:
            subscription.wake()


class DaemonThread(threading.Thread):
    """simple-websocket's reader thread, as a daemon: an open socket must not hold up exit."""

    def __init__(self, *args, **kwargs):
        kwargs["daemon"] = True
        super().__init__(*args, **kwargs)


class ChangeFeed:
    """Publishes a component's database changes to the subscribers of this process."""

    def __init__(self, component):
        self.component = component
        self._subscribers = []
        self._lock = threading.Lock()
        self._sequence = 0
        # Called with each event's JSON text: the storage sends it to the component's other
        # processes (DuckLake replicas), whose feeds :meth:`receive` it. None: one process.
        self.forward = None

    def subscribe(self, event_filter=None):
        """Return a new :class:`Subscription` receiving events that pass ``event_filter``."""
        subscription = Subscription(self, event_filter or EventFilter())
        with self._lock:
            self._subscribers = [*self._subscribers, subscription]
        return subscription

    def unsubscribe(self, subscription):
        """Remove ``subscription``."""
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s is not subscription]

    @property
    def generation(self):
        """Return how many writes were published: cached answers are keyed by it."""
        return self._sequence

    @property
    def subscriber_count(self):
        """Return how many subscribers are listening."""
        return len(self._subscribers)

    def publish(self, action, **fields):
        """Send a change (``created``, ``updated``, ``deleted``, ``bulk_created``) to listeners."""
        entity = fields.pop("entity", self.component.entity)
        return self._send({"type": "change", "action": action, "entity": entity, **fields})

    def publish_alert(self, action, alert):
        """Send an alert change (``raised``, ``acknowledged``, ``resolved``, ``suppressed``)."""
        # model_name and id at the top: the model and id filters of a stream apply to alerts.
        top = {"id": alert["alert_id"], "model_name": alert["model_name"], "alert": alert}
        return self._send({"type": "alert", "action": action, **top})

    def _send(self, fields):
        """Number an event (every publish moves the count on) and offer it to each listener."""
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            subscribers = self._subscribers
        if not subscribers and self.forward is None:
            return None
        event = Event(
            {
                "type": fields.pop("type"),
                "action": fields.pop("action"),
                "component": self.component.name,
                **fields,
                "timestamp": _now(),
                "seq": sequence,
            }
        )
        for subscription in subscribers:
            subscription.offer(event)
        if self.forward is not None:
            self.forward(event.text)
        return event

    def receive(self, text):
        """Offer an event another process of the component published (its JSON text) to this
        process's listeners, and move the count on: cached answers here are stale now too."""
        with self._lock:
            self._sequence += 1
            subscribers = self._subscribers
        event = Event.from_text(text)
        for subscription in subscribers:
            subscription.offer(event)

    def publish_bulk(self, summary):
        """Publish one event for a bulk load: its count and (up to 100 each) distinct
        ``model_names``, ``statuses`` and ``batch_ids``."""
        if not self._subscribers and self.forward is None:
            with self._lock:
                self._sequence += 1  # no listener, but cached answers must still move on
            return None
        return self.publish("bulk_created", **summary)
