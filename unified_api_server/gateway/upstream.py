"""Pooled HTTP connections to the components, and the mapping of failures to 502/503/504.

One urllib3 connection pool per component and worker: raw urllib3 costs about a third of
``requests`` per call (measured on this project's machines), and the gateway's own CPU time is
its throughput ceiling. A kept-alive connection can be closed by the component (its keep-alive
timeout) just as the gateway sends on it: a read (GET, HEAD, OPTIONS, with no body) that gets
no answer at all is then sent once more, on a fresh connection, as browsers do. Each component
has a :class:`~unified_api_server.gateway.breaker.Breaker`: one that keeps refusing or timing
out is answered for (503) at once until it is healthy again.

A forwarded call waits at most ``read_timeout`` seconds for each read of the answer (a stream
that keeps sending stays alive however long it runs); uploads (``.../bulk``,
``.../import/{format}``) are answered only once stored, so they wait ``upload_timeout``.
"""

import json
import logging
import math
import time
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from unified_api_server.core.metrics import upstream_call
from unified_api_server.gateway.breaker import Breaker
from unified_api_server.gateway.settings import url_setting
from unified_api_server.registry import COMPONENTS

log = logging.getLogger(__name__)


class UpstreamError(Exception):
    """A component could not be reached (502), is marked down (503) or was too slow (504)."""

    def __init__(self, component, status, reason, retry_after=None):
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def message(self):
        """Return the client-facing message, naming the component."""
        if self.status == 504:
            return f"component '{self.component}' did not answer in time"
        if self.status == 503:
            return f"component '{self.component}' is unavailable ({self.reason})"
        return f"component '{self.component}' is unreachable"

    @property
    def headers(self):
        """Return the answer's extra headers: ``Retry-After`` for a component marked down."""
        if self.retry_after is None:
            return ()
        return (("Retry-After", str(max(1, math.ceil(self.retry_after)))),)


SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))  # nothing changes if sent twice


def is_upload(path_qs):
    """Tell whether a forwarded path is an upload answered only once stored (bulk, import)."""
    parts = path_qs.partition("?")[0].rstrip("/").split("/")
    return parts[-1] == "bulk" or (len(parts) > 1 and parts[-2] == "import")


def classify_error(component, exc):
    """Turn a urllib3 exception into an :class:`UpstreamError`."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it first.
    if isinstance(exc, NewConnectionError):
        return UpstreamError(component, 502, "connection refused or failed")
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
        return UpstreamError(component, 504, "timed out")
    return UpstreamError(component, 502, type(exc).__name__)


class Upstream:
    """One component: its base URL, its connection pool, its timeouts and its breaker."""

    def __init__(self, name, url, settings, token=""):
        self.name = name
        # Every request to a component carries the internal credential it checks.
        self.auth_headers = {"X-Internal-Token": token} if token else {}
        self.url = url.rstrip("/")
        self.prefix = urlsplit(url).path.rstrip("/")
        self.connect_timeout = settings["connect_timeout"]
        self.timeout = urllib3.Timeout(connect=self.connect_timeout, read=settings["read_timeout"])
        # urllib3 sends a body under the connect timeout, and a component reading an upload
        # pauses between pieces to check and stage them: uploads get the long one throughout.
        upload = settings["upload_timeout"]
        self.upload_timeout = urllib3.Timeout(connect=upload, read=upload)
        self.health_timeout = settings["health_timeout"]
        self.breaker = Breaker(settings["breaker_failures"], settings["breaker_cooldown"])
        self.pool = urllib3.connection_from_url(
            self.url, maxsize=settings["pool_size"], block=False, retries=False
        )

    def open(self, method, path_qs, headers=None, body=None, timeout=None):
        """Send a request and return the unread response; raise UpstreamError on failure."""
        why_not = self.breaker.check(self.healthy)
        if why_not is not None:
            raise UpstreamError(self.name, 503, why_not, self.breaker.retry_in())
        if timeout is None:
            timeout = self.upload_timeout if is_upload(path_qs) else self.timeout
        url = self.prefix + path_qs
        try:
            try:
                response = self._urlopen(method, url, headers, body, timeout)
            except ProtocolError:  # the connection ended before any answer came
                if body is not None or method not in SAFE_METHODS:
                    raise
                response = self._urlopen(method, url, headers, body, timeout)
        except (HTTPError, OSError) as exc:
            raise self.failure(exc) from None
        self.breaker.succeeded()
        return response

    def failure(self, exc):
        """Return the UpstreamError for ``exc``, counting it against the breaker."""
        error = classify_error(self.name, exc)
        self.breaker.failed()
        return error

    def healthy(self):
        """Tell whether the component answers ``/health`` with 200 (the breaker's probe)."""
        timeout = urllib3.Timeout(total=self.health_timeout)
        try:
            response = self._urlopen("GET", self.prefix + "/health", None, None, timeout)
            response.drain_conn()
            response.release_conn()
        except (HTTPError, OSError):
            return False
        return response.status == 200

    def _urlopen(self, method, url, headers, body, timeout):
        return self.pool.urlopen(
            method,
            url,
            body=body,
            headers={**(headers or {}), **self.auth_headers},
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=False,
            decode_content=False,
            release_conn=False,
        )

    def get_json(self, path_qs, budget, method="GET", payload=None, request_id=None, key_name=None):
        """Fetch JSON within ``budget`` s; return ``(status, body)`` or raise UpstreamError.

        ``key_name`` makes the call on that key's behalf: the component records it (who
        acknowledged an alert, whose request a log line is).
        """
        headers = {"Accept": "application/json"}
        if request_id:
            headers["X-Request-ID"] = request_id
        if key_name:
            headers["X-API-Key-Name"] = key_name
        body = None
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        timeout = urllib3.Timeout(total=budget, connect=min(self.connect_timeout, budget))
        started = time.perf_counter()
        status, failed = "error", False
        try:
            response = self.open(method, path_qs, headers, body, timeout)
            try:
                data = response.data
            except (HTTPError, OSError) as exc:
                response.close()
                raise self.failure(exc) from None
            finally:
                response.release_conn()
            status = response.status
            try:
                return status, json.loads(data) if data else None
            except ValueError:
                raise UpstreamError(self.name, 502, "answered with invalid JSON") from None
        except UpstreamError as exc:
            status, failed = exc.status, True
            raise
        finally:
            log_call(self.name, method, path_qs, status, started, request_id, failed=failed)


def log_call(component, method, path_qs, status, started, request_id, suffix="", failed=False):
    """Log one upstream call: component, method, path (no query), status, ms, request id.

    It is counted in the metrics too: ``failed`` when no answer came (``status`` is then the
    gateway's own 502, 503 or 504); a socket's later lines (closed, stream) are not calls.
    """
    if isinstance(status, int):
        upstream_call(component, status, time.perf_counter() - started, failed)
    if log.isEnabledFor(logging.INFO):
        path = path_qs.partition("?")[0]
        ms = round((time.perf_counter() - started) * 1000, 1)
        fields = {"component": component, "method": method, "path": path, "status": status}
        log.info(
            "upstream component=%s method=%s path=%s status=%s ms=%s request_id=%s%s",
            component,
            method,
            path,
            status,
            ms,
            request_id,
            suffix,
            extra={**fields, "ms": ms, "request_id": request_id},  # a JSON line's fields
        )


def build_upstreams(settings):
    """Create one :class:`Upstream` per component from the settings."""
    return {
        component.name: Upstream(
            component.name,
            settings[url_setting(component)],
            settings,
            settings["internal_token"],
        )
        for component in COMPONENTS
    }
