"""Pooled HTTP connections to the components, and the mapping of failures to 502/504.

One urllib3 connection pool per component and worker: raw urllib3 costs about a third of
``requests`` per call (measured on this project's machines), and the gateway's own CPU time is
its throughput ceiling.
"""

import json
import logging
import time
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)

from unified_api_server.gateway.settings import url_setting
from unified_api_server.registry import COMPONENTS

log = logging.getLogger(__name__)


class UpstreamError(Exception):
    """A component could not be reached (502) or did not answer in time (504)."""

    def __init__(self, component, status, reason):
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.status = status
        self.reason = reason

    @property
    def message(self):
        """Return the client-facing message, naming the component."""
        if self.status == 504:
            return f"component '{self.component}' did not answer in time"
        return f"component '{self.component}' is unreachable"


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
    """One component: its base URL, its connection pool and its timeouts."""

    def __init__(self, name, url, connect_timeout, read_timeout, pool_size=64, token=""):
        self.name = name
        # Every request to a component carries the internal credential it checks.
        self.auth_headers = {"X-Internal-Token": token} if token else {}
        self.url = url.rstrip("/")
        self.prefix = urlsplit(url).path.rstrip("/")
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.connect_timeout = connect_timeout
        self.pool = urllib3.connection_from_url(
            self.url, maxsize=pool_size, block=False, retries=False
        )

    def open(self, method, path_qs, headers=None, body=None, timeout=None):
        """Send a request and return the unread response; raise UpstreamError on failure."""
        try:
            return self.pool.urlopen(
                method,
                self.prefix + path_qs,
                body=body,
                headers={**(headers or {}), **self.auth_headers},
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=timeout or self.timeout,
                preload_content=False,
                decode_content=False,
                release_conn=False,
            )
        except (HTTPError, OSError) as exc:
            raise classify_error(self.name, exc) from None

    def get_json(self, path_qs, budget, method="GET", payload=None, request_id=None):
        """Fetch JSON within ``budget`` s; return ``(status, body)`` or raise UpstreamError."""
        headers = {"Accept": "application/json"}
        if request_id:
            headers["X-Request-ID"] = request_id
        body = None
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        timeout = urllib3.Timeout(total=budget, connect=min(self.connect_timeout, budget))
        started = time.perf_counter()
        status = "error"
        try:
            response = self.open(method, path_qs, headers, body, timeout)
            try:
                data = response.data
            except (HTTPError, OSError) as exc:
                response.close()
                raise classify_error(self.name, exc) from None
            finally:
                response.release_conn()
            status = response.status
            try:
                return status, json.loads(data) if data else None
            except ValueError:
                raise UpstreamError(self.name, 502, "answered with invalid JSON") from None
        except UpstreamError as exc:
            status = exc.status
            raise
        finally:
            log_call(self.name, method, path_qs, status, started, request_id)


def log_call(component, method, path_qs, status, started, request_id, extra=""):
    """Log one upstream call: component, method, path (no query), status, ms, request id."""
    if log.isEnabledFor(logging.INFO):
        log.info(
            "upstream component=%s method=%s path=%s status=%s ms=%.1f request_id=%s%s",
            component,
            method,
            path_qs.partition("?")[0],
            status,
            (time.perf_counter() - started) * 1000,
            request_id,
            extra,
        )


def build_upstreams(settings):
    """Create one :class:`Upstream` per component from the settings."""
    return {
        component.name: Upstream(
            component.name,
            settings[url_setting(component)],
            settings["connect_timeout"],
            settings["read_timeout"],
            settings["pool_size"],
            settings["internal_token"],
        )
        for component in COMPONENTS
    }
