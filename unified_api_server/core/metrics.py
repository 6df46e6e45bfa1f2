"""Prometheus metrics of every service: their definitions, the request hook, and ``/metrics``.

Every service runs under gunicorn, the gateway with several workers. Each worker writes its
values to files in the service's own folder (``PROMETHEUS_MULTIPROC_DIR``, made empty by the
master at start, see :mod:`unified_api_server.core.server`) and ``/metrics`` adds up every
worker's files, so a scrape sees the service, not whichever worker answered it. Outside
gunicorn (tests in one process) the values live in this process's default registry.

Labels are bounded: route templates (Flask's rule, or the gateway's ``/api/test/*``), methods,
statuses, component names and a few fixed words; never a raw path, an id or a key.

Other modules report through the small functions below, never the metric objects:

* :func:`cache_hit` / :func:`cache_miss` ``(name)``: a response cache served an answer or not
  (``name``: the cache, e.g. the gateway's or a component's name);
* :func:`rows_ingested`, :func:`job_finished`, :func:`socket_open`, :func:`rate_limited`,
  :func:`auth_failure`, :func:`upstream_call`, :func:`timed_cursor`.
"""

import os
import time
from contextlib import contextmanager

from flask import Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

from unified_api_server.core.web.requestlog import remember_route

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: a cached read answers in a millisecond, an export or a bulk load in minutes.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)

# Every metric has labels: a labelled metric makes its values in the worker (on first use),
# after the worker's value class is set (see init_app), never in the importing master.
REQUESTS = Counter(
    "uas_http_requests_total", "HTTP requests answered", ("route", "method", "status")
)
REQUEST_SECONDS = Histogram(
    "uas_http_request_duration_seconds",
    "seconds until a request's status and headers were sent",
    ("route", "method"),
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_CALLS = Counter(
    "uas_upstream_requests_total",
    "gateway calls to a component, by outcome (status class, or unreachable/down/timeout)",
    ("component", "outcome"),
)
UPSTREAM_SECONDS = Histogram(
    "uas_upstream_request_duration_seconds",
    "seconds of a gateway call to a component, its answer streamed in full",
    ("component",),
    buckets=LATENCY_BUCKETS,
)
DB_SECONDS = Histogram(
    "uas_db_query_duration_seconds",
    "seconds of one DuckDB statement run for a request",
    ("component",),
    buckets=LATENCY_BUCKETS,
)
ROWS = Counter(
    "uas_rows_ingested_total", "rows stored, by way in", ("component", "path")
)  # path: create, import, bulk, job
JOBS = Gauge(
    "uas_jobs", "jobs now queued or running", ("component", "state"), multiprocess_mode="livesum"
)
JOBS_FINISHED = Counter(
    "uas_jobs_finished_total", "jobs ended, by final status", ("component", "state")
)
JOB_SECONDS = Histogram(
    "uas_job_duration_seconds",
    "seconds a job ran (from its start to its end)",
    ("component",),
    buckets=JOB_BUCKETS,
)
SOCKETS = Gauge(
    "uas_websockets_open",
    "WebSockets open now, by kind (relay, change_stream, job)",
    ("kind",),
    multiprocess_mode="livesum",
)
CACHE_HITS = Counter("uas_cache_hits_total", "answers served from a cache", ("cache",))
CACHE_MISSES = Counter("uas_cache_misses_total", "answers a cache did not hold", ("cache",))
RATE_LIMITED = Counter(
    "uas_rate_limited_total", "requests refused over a key's limit", ("limit",)
)  # limit: rate, job_sockets, streams
AUTH_FAILURES = Counter(
    "uas_auth_failures_total", "requests refused by the key check, by reason", ("reason",)
)

_FAILED = {502: "unreachable", 503: "down", 504: "timeout"}
_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


# -- what other modules report ------------------------------------------------------------------
def cache_hit(name):
    """Count an answer the cache ``name`` served."""
    CACHE_HITS.labels(name).inc()


def cache_miss(name):
    """Count an answer the cache ``name`` did not hold."""
    CACHE_MISSES.labels(name).inc()


def rows_ingested(component, path, rows):
    """Count ``rows`` stored in ``component`` by ``path`` (create, import, bulk, job)."""
    if rows:
        ROWS.labels(component, path).inc(rows)


def job_finished(component, state, started=None):
    """Count a job of ``component`` ended ``state``; ``started``: its monotonic start, if it ran."""
    JOBS_FINISHED.labels(component, state).inc()
    if started is not None:
        JOB_SECONDS.labels(component).observe(time.monotonic() - started)


def set_jobs(component, counts):
    """Set the gauge of ``component``'s jobs now in each state (``{"queued": n, ...}``)."""
    for state, count in counts.items():
        JOBS.labels(component, state).set(count)


@contextmanager
def socket_open(kind):
    """Count a WebSocket of ``kind`` (relay, change_stream, job) as open while the block runs."""
    gauge = SOCKETS.labels(kind)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def rate_limited(limit):
    """Count a request refused over a key's ``limit`` (rate, job_sockets, streams)."""
    RATE_LIMITED.labels(limit).inc()


def auth_failure(reason):
    """Count a request the key check refused for ``reason`` (a fixed word, never the key)."""
    AUTH_FAILURES.labels(reason).inc()


def upstream_call(component, status, seconds, failed=False):
    """Count a gateway call to ``component``: its answer's ``status``, or a ``failed`` one."""
    outcome = _FAILED.get(status, "failed") if failed else _CLASSES.get(status // 100, "other")
    UPSTREAM_CALLS.labels(component, outcome).inc()
    UPSTREAM_SECONDS.labels(component).observe(seconds)


class TimedCursor:
    """A DuckDB cursor whose ``execute`` calls are timed; everything else passes through."""

    __slots__ = ("_cursor", "_histogram")

    def __init__(self, cursor, component):
        self._cursor = cursor
        self._histogram = DB_SECONDS.labels(component)

    def execute(self, *args, **kwargs):
        """Run a statement on the cursor, timing it; return this cursor (DuckDB returns its)."""
        started = time.perf_counter()
        try:
            self._cursor.execute(*args, **kwargs)
        finally:
            self._histogram.observe(time.perf_counter() - started)
        return self

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def timed_cursor(cursor, component):
    """Return ``cursor`` with its statements timed into ``uas_db_query_duration_seconds``."""
    return TimedCursor(cursor, component)


# -- requests -----------------------------------------------------------------------------------
def flask_route(environ):
    """Return the route label of a request a Flask app answered: its rule, or ``unmatched``."""
    return environ.get("uas.route") or "unmatched"


class RequestMetrics:
    """WSGI middleware counting every answer by route, method and status, and timing it.

    The time is taken when the status and headers go out: a streamed answer's body (an export)
    is not waited for. A WebSocket, which gunicorn ends by ``StopIteration``, counts as a 101.
    ``route_of(environ)`` names the route once the app has answered.
    """

    def __init__(self, app, route_of=flask_route):
        self.app = app
        self.route_of = route_of
        self._series = {}  # (route, method, status) -> (counter, histogram), made once

    def __call__(self, environ, start_response):
        """Serve the request through the wrapped app; count it when its status is known."""
        started = time.perf_counter()
        seen = []

        def start(status, headers, exc_info=None):
            if not seen:
                seen.append(status)
                self.record(environ, status[:3], time.perf_counter() - started)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        except StopIteration:
            if not seen:
                self.record(environ, "101", None)
            raise
        except BaseException:
            if not seen:
                self.record(environ, "500", time.perf_counter() - started)
            raise

    def record(self, environ, status, seconds):
        """Count one answer; ``seconds`` None: not timed (a WebSocket's life is no latency)."""
        method = environ.get("REQUEST_METHOD", "")
        # Labels stay bounded: a client may send any method name.
        key = (self.route_of(environ), method if method in _METHODS else "other", status)
        series = self._series.get(key)
        if series is None:
            series = (REQUESTS.labels(*key), REQUEST_SECONDS.labels(*key[:2]))
            self._series[key] = series
        series[0].inc()
        if seconds is not None:
            series[1].observe(seconds)


# -- the /metrics endpoint ----------------------------------------------------------------------
def serve_metrics():
    """Return every metric of this service (all its workers) in Prometheus's text format."""
    for refresh in current_app.extensions.get("uas.metrics", ()):
        refresh()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_app(app, route_of=flask_route, refresh=()):
    """Count ``app``'s requests, and serve ``/metrics``; ``refresh``: run before each scrape.

    Call it before other ``before_request`` hooks (one that answers skips the hooks after it),
    and after wrapping ``app.wsgi_app`` in anything whose answers should be counted too.
    """
    if os.environ.get(MULTIPROC_ENV) and not getattr(values.ValueClass, "_multiprocess", False):
        # The master imported prometheus_client before it chose the folder: from now on this
        # worker writes its values there (every metric here is labelled, so none exists yet).
        values.ValueClass = values.get_value_class()
    app.extensions["uas.metrics"] = list(refresh)
    # The request log's hook notes the route for both (one hook a request, not two).
    if remember_route not in app.before_request_funcs.get(None, ()):
        app.before_request(remember_route)
    app.add_url_rule("/metrics", "metrics", serve_metrics)
    app.wsgi_app = RequestMetrics(app.wsgi_app, route_of)
