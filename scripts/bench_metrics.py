"""Measure what the request metrics cost per request, as the services run them (multiprocess).

    python scripts/bench_metrics.py [--requests 200000]

Sends the same minimal WSGI request to a bare app, then to that app wrapped in the metrics'
request hook (``RequestMetrics``: a counter and a histogram, written to a worker's files as
under gunicorn), alternating the two five times, and prints the difference in µs per request.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unified_api_server.core.metrics import RequestMetrics


def bare(environ, start_response):
    """Answer every request with an empty 200."""
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]


def per_request(app, count):
    """Return the µs one request through ``app`` takes, over ``count`` requests."""
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/test/db/runs", "uas.route": "/x"}
    start = lambda status, headers, exc_info=None: None  # noqa: E731
    started = time.perf_counter()
    for _ in range(count):
        app(dict(environ), start)
    return (time.perf_counter() - started) / count * 1e6


def main():
    """Print the bare and the measured cost per request, and their difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    count = parser.parse_args().requests
    measured = RequestMetrics(bare)
    plain, counted = [], []
    for _ in range(5):
        plain.append(per_request(bare, count))
        counted.append(per_request(measured, count))
    base, with_metrics = statistics.median(plain), statistics.median(counted)
    print(f"bare app:     {base:.2f} µs/request")
    print(f"with metrics: {with_metrics:.2f} µs/request")
    print(f"metrics cost: {with_metrics - base:.2f} µs/request")


if __name__ == "__main__":
    main()
