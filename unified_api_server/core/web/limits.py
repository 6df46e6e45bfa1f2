"""Bounded queries: a request's database work is interrupted once it runs past its time limit.

Every cursor the database hands out while a request runs is watched (the ``watch`` hook of
:class:`~unified_api_server.core.data.database.Database`). The clock starts with the first
cursor, so reading a request body does not count. Past ``query_timeout`` seconds one watchdog
thread interrupts the request's cursors (``interrupt()``) and keeps doing so until the request
ends, so a query started afterwards stops too; the query fails with DuckDB's
``InterruptException`` and the request answers 503 with code ``query_timeout``. Heavy routes
(exports, bulk loads, imports) get ``stream_timeout`` instead, over the whole answer, an
export's streaming included: a stream cut short ends without its last bytes.

An interrupted read leaves its cursor usable; an interrupted write fails inside its
transaction, which is rolled back, so nothing is half-written. Jobs' own writes run outside
any request and are never interrupted.
"""

import heapq
import itertools
import logging
import threading
import time

import duckdb
from flask import current_app, has_request_context, request

from unified_api_server.core.errors import ApiError, error_response
from unified_api_server.core.settings import Setting

log = logging.getLogger(__name__)
CODE = "query_timeout"
AGAIN = 0.05  # seconds between interrupts once a deadline has passed
# A deadline fires up to this late, so that one wake-up of the watchdog serves every deadline
# that fell due meanwhile: under load it woke (and took the GIL) once for every request.
LATE = 0.1
SETTINGS = (
    Setting(
        "query_timeout",
        float,
        20.0,
        "seconds a request's queries may run before they are stopped (503 query_timeout); "
        "keep it below the gateway's read_timeout; 0: no limit",
        minimum=0,
    ),
    Setting(
        "stream_timeout",
        float,
        600.0,
        "the same for a whole export, bulk load or import, streaming included; 0: no limit",
        minimum=0,
    ),
)
_current = threading.local()


class Deadline:
    """The time limit of one request: the cursors it uses, interrupted once it has passed."""

    def __init__(self, seconds, setting):
        self.seconds = seconds
        self.setting = setting
        self.expired = False
        self._cursors = []
        self._started = False
        self._done = False
        self._lock = threading.Lock()

    def add(self, cursor):
        """Watch ``cursor``; the first one starts the clock. Past the deadline, refuse it."""
        with self._lock:
            if self._done:
                return
            if self.expired:
                raise ApiError(503, self.message(), {self.setting: self.seconds}, code=CODE)
            if not any(known is cursor for known in self._cursors):
                self._cursors.append(cursor)
            start, self._started = not self._started, True
        if start:
            WATCHDOG.schedule(time.monotonic() + self.seconds, self)

    def expire(self):
        """Interrupt every watched cursor; return whether to do it again shortly."""
        with self._lock:
            if self._done:
                return False
            if not self.expired:
                log.warning(
                    "%s ran past %s (%s s): interrupting it", self.what, self.setting, self.seconds
                )
            self.expired = True
            for cursor in self._cursors:
                try:
                    cursor.interrupt()
                except duckdb.Error:  # closed meanwhile
                    pass
        return True

    def finish(self):
        """Stop watching: the request (or its stream) is over."""
        with self._lock:
            self._done = True
            self._cursors.clear()
        if getattr(_current, "deadline", None) is self:
            _current.deadline = None

    def message(self):
        """Return what the client is told once the deadline has passed."""
        return (
            f"the query ran past {self.setting} ({self.seconds:g} s) and was stopped; narrow it "
            "(filters, since/until, a smaller limit) or raise the limit"
        )

    @property
    def what(self):
        """Return a name for logs."""
        return "a request" if self.setting == "query_timeout" else "a stream"


class Watchdog:
    """One thread firing the deadlines of every request of the process, soonest first."""

    def __init__(self):
        self._queue = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread = None

    def schedule(self, at, deadline):
        """Expire ``deadline`` at monotonic time ``at``."""
        entry = (at, next(self._order), deadline)
        with self._wake:
            heapq.heappush(self._queue, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="uas-deadlines", daemon=True)
                self._thread.start()
            # Wake the thread only when this deadline is now the soonest: waking it for every
            # request handed it the GIL each time (about 2 ms a request under gthread).
            if self._queue[0] is entry:
                self._wake.notify()

    def _run(self):
        while True:
            with self._wake:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    wait = self._queue[0][0] + LATE - time.monotonic() if self._queue else None
                    self._wake.wait(wait)
                now, due = time.monotonic(), []
                while self._queue and self._queue[0][0] <= now:
                    due.append(heapq.heappop(self._queue)[2])
            for deadline in due:  # most are of requests long over: expire() returns at once
                if deadline.expire():
                    self.schedule(time.monotonic() + AGAIN, deadline)


WATCHDOG = Watchdog()


def watch(cursor):
    """Database hook: bound ``cursor`` by the deadline of the request this thread serves."""
    if not has_request_context():  # opening the app, jobs: no request's deadline applies
        return
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.add(cursor)


def begin():
    """``before_request``: give the request its deadline (a heavy route's is the longer one)."""
    stale = getattr(_current, "deadline", None)
    if stale is not None:  # a response of this thread that was never closed
        stale.finish()
    _current.deadline = None
    if request.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
        return  # a socket lives as long as its client wants; each of its reads is short
    view = current_app.view_functions.get(request.endpoint)
    heavy = getattr(getattr(view, "view_class", None), "heavy", False)
    setting = "stream_timeout" if heavy else "query_timeout"
    seconds = current_app.extensions["component"].settings[setting]
    _current.deadline = Deadline(seconds, setting) if seconds else None


def end(response):
    """``after_request``: end the deadline when the answer, streamed or not, is over."""
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        response.call_on_close(deadline.finish)
    return response


def interrupted(exc):
    """A query was interrupted: 503 ``query_timeout`` when its request ran out of time."""
    deadline = getattr(_current, "deadline", None)
    if deadline is None or not deadline.expired:
        return error_response(503, "the query was interrupted; try again")
    return error_response(503, deadline.message(), {deadline.setting: deadline.seconds}, code=CODE)


def bounded(chunks):
    """Return ``chunks`` (a streamed answer) bounded by the request's deadline.

    The first chunk is made at once, inside the request: a stream out of time before its
    first bytes answers 503 ``query_timeout`` like any query. One cut short later raises, so
    the server ends the connection without the answer's last bytes: the client sees an
    incomplete download, never a shorter one that looks whole.
    """
    deadline = getattr(_current, "deadline", None)
    chunks = iter(chunks)
    first = next(chunks, None)
    if deadline is not None and deadline.expired:
        raise ApiError(503, deadline.message(), {deadline.setting: deadline.seconds}, code=CODE)
    return _rest(deadline, first, chunks)


def _rest(deadline, first, chunks):
    if first is None:
        return
    yield first
    for chunk in chunks:
        if deadline is not None and deadline.expired:
            raise StreamTimeout(deadline.message())
        yield chunk


class StreamTimeout(RuntimeError):
    """A streamed answer ran past its time limit and is cut short."""


def init_app(app):
    """Bound the queries of every request of ``app`` (its settings name the limits)."""
    app.before_request(begin)
    app.after_request(end)
    app.register_error_handler(duckdb.InterruptException, interrupted)
