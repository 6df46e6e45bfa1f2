"""Call several components at once, each within a time budget, and report how each call went.

Under gunicorn's gevent worker (monkey-patched sockets) the calls run as greenlets; anywhere else
(an unpatched script) they run on threads, so the fan-out is concurrent either way.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass

import gevent
from flask import current_app, request
from gevent import monkey

from unified_api_server.gateway.upstream import UpstreamError

# Grace beyond the budget for scheduling before a call is given up; the call's own socket
# timeouts are the budget, so this only catches a component trickling bytes.
_GRACE = 0.25


@dataclass
class Outcome:
    """How one call went: ``ok``, the HTTP status, the latency, an error message and the body."""

    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None
    body: object = None
    skipped: str | None = None  # why the component was not called (a filter it lacks)

    def status_block(self):
        """Return the per-component status block shown to clients."""
        block = {
            "ok": self.ok,
            "status_code": self.status_code,
            "latency_ms": round(self.latency_ms, 1),
            "error": self.error,
        }
        if self.skipped:
            block["skipped"] = self.skipped
        return block


def _run(call):
    started = time.perf_counter()
    try:
        status, body = call()
    except UpstreamError as exc:
        return Outcome(False, exc.status, _ms(started), f"{exc.message} ({exc.reason})")
    if 200 <= status < 300:
        return Outcome(True, status, _ms(started), None, body)
    message = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    error = f"HTTP {status}" + (f": {message}" if message else "")
    return Outcome(False, status, _ms(started), error, body)  # the body: a chart passes a 4xx on


def _ms(started):
    return (time.perf_counter() - started) * 1000


def component_call(component, path_qs, budget, method="GET", payload=None, key_name=None):
    """Return a zero-argument call fetching JSON from ``component`` (for :func:`fan_out`).

    ``key_name`` makes it on that key's behalf. The request id is read now: greenlets do not
    see Flask's request context.
    """
    upstream = current_app.extensions["gateway"].upstreams[component]
    request_id = request.environ.get("gateway.request_id")
    return lambda: upstream.get_json(path_qs, budget, method, payload, request_id, key_name)


def fan_out(calls, budget):
    """Run ``calls`` (name -> zero-argument callable returning ``(status, body)``) concurrently.

    Returns name -> :class:`Outcome`; a call still running after ``budget`` seconds is abandoned
    and reported as timed out.
    """
    names = list(calls)
    started = time.perf_counter()
    results = {}
    if monkey.is_module_patched("socket"):
        greenlets = {name: gevent.spawn(_run, calls[name]) for name in names}
        gevent.joinall(list(greenlets.values()), timeout=budget + _GRACE)
        for name, greenlet in greenlets.items():
            if greenlet.successful():
                results[name] = greenlet.value
            elif greenlet.ready():
                results[name] = Outcome(False, None, _ms(started), "gateway error")
            else:
                greenlet.kill(block=False)
    else:
        pool = ThreadPoolExecutor(max_workers=len(names) or 1)
        futures = {name: pool.submit(_run, calls[name]) for name in names}
        wait_futures(list(futures.values()), timeout=budget + _GRACE)
        for name, future in futures.items():
            if future.done():
                failed = future.exception() is not None
                results[name] = (
                    Outcome(False, None, _ms(started), "gateway error")
                    if failed
                    else future.result()
                )
        pool.shutdown(wait=False, cancel_futures=True)
    for name in names:
        if name not in results:
            results[name] = Outcome(False, 504, _ms(started), "did not answer within the budget")
    return results


def merge_status(outcomes):
    """Combine several outcomes of one component into one status block (the worst one wins)."""
    failed = [outcome for outcome in outcomes if not outcome.ok]
    chosen = failed[0] if failed else max(outcomes, key=lambda outcome: outcome.latency_ms)
    block = chosen.status_block()
    block["latency_ms"] = round(max(outcome.latency_ms for outcome in outcomes), 1)
    return block
