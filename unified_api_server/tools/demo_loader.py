"""``unified-api-server demo-data``: load a realistic, deterministic data set through the API.

Everything goes through the public HTTP API (batches, bulk NDJSON ingest, per-run steps), so
loading the demo also exercises ingest. The rows come from :class:`unified_api_server.tools.demo_data.DemoData`.
"""

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import requests

from unified_api_server.tools.demo_data import FULL, SCALES, DemoData


class Progress:
    """A plain-text progress bar on stderr (one line per 10% when stderr is not a terminal)."""

    def __init__(self, label, total, stream=sys.stderr):
        self.label, self.total, self.done, self.stream = label, total, 0, stream
        self.tty = stream.isatty()
        self.last_tenth = -1
        self.started = time.monotonic()

    def advance(self, count):
        """Record ``count`` more items done and redraw."""
        self.done += count
        fraction = self.done / self.total if self.total else 1.0
        elapsed = time.monotonic() - self.started
        text = (
            f"{self.label:<18} [{'#' * int(fraction * 30):<30}] {fraction:4.0%} "
            f"{self.done}/{self.total} {elapsed:5.1f}s"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if self.done >= self.total else ""))
        elif int(fraction * 10) > self.last_tenth:
            self.last_tenth = int(fraction * 10)
            self.stream.write(text + "\n")
        self.stream.flush()


class Loader:
    """Send the demo data to a running suite."""

    def __init__(self, url, key, workers=8, timeout=300):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["X-API-Key"] = key
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=workers)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.workers = workers
        self.timeout = timeout

    def call(self, method, path, **kwargs):
        """Make one request; raise RuntimeError with the server's message on failure."""
        response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:300]
            raise RuntimeError(f"{method} {path}: {response.status_code} {message}")
        return response

    def batches(self, component, bodies):
        """Create the batches of ``component``."""
        for body in bodies:
            self.call("POST", f"/api/db/{component}/batches", json=body)

    def bulk(self, component, collection, rows, label, total, chunk=10_000):
        """Send ``rows`` as NDJSON in chunks, advancing a progress bar."""
        progress = Progress(label, total)
        buffer = []
        for row in rows:
            buffer.append(orjson.dumps({k: v for k, v in row.items() if v is not None}))
            if len(buffer) >= chunk:
                self._send(component, collection, buffer)
                progress.advance(len(buffer))
                buffer = []
        if buffer:
            self._send(component, collection, buffer)
            progress.advance(len(buffer))

    def _send(self, component, collection, lines):
        self.call(
            "POST",
            f"/api/db/{component}/{collection}/bulk",
            data=b"\n".join(lines),
            headers={"Content-Type": "application/x-ndjson"},
        )

    def steps(self, steps_by_run):
        """Attach steps to each test run, several requests at a time."""
        progress = Progress("test run steps", len(steps_by_run))
        items = list(steps_by_run.items())

        def send(item):
            run_id, steps = item
            if steps:
                self.call("POST", f"/api/db/test/run/{run_id}/steps", json=steps)

        with ThreadPoolExecutor(self.workers) as pool:
            for index, _ in enumerate(pool.map(send, items), 1):
                if index % 50 == 0 or index == len(items):
                    progress.advance(50 if index % 50 == 0 else index % 50)


def load(url, key, seed=42, scale=1.0, anchor=None, workers=8):
    """Load the demo data set into the suite at ``url``; return the row counts sent."""
    data = DemoData(seed, scale, anchor)
    loader = Loader(url, key, workers)
    runs, steps = data.test_runs()
    tasks = data.generator_tasks()
    for component in ("test", "generator", "benchmark"):
        loader.batches(component, data.batches(component))
    loader.bulk("test", "runs", runs, "test runs", len(runs))
    loader.steps(steps)
    loader.bulk("generator", "tasks", tasks, "generator tasks", len(tasks))
    loader.bulk(
        "benchmark",
        "runs",
        data.benchmark_runs(),
        "benchmark runs",
        data.sizes["benchmark"],
        chunk=20_000,
    )
    counts = {
        "test_runs": len(runs),
        "test_steps": sum(map(len, steps.values())),
        "generator_tasks": len(tasks),
        "benchmark_runs": data.sizes["benchmark"],
    }
    return counts


def _scale(text):
    if text in SCALES:
        return SCALES[text]
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(SCALES)} or a number, got {text!r}"
        ) from None
    if not 0 < value <= 10:
        raise argparse.ArgumentTypeError("scale must be in (0, 10]")
    return value


def main(argv=None):
    """Run ``demo-data`` with ``argv``; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="unified-api-server demo-data", description=__doc__.split("\n")[0].strip("`")
    )
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        help="gateway (or nginx) base URL (default %(default)s)",
    )
    parser.add_argument(
        "--key",
        default=os.environ.get("UNIFIED_API_KEY"),
        help="API key with write scope (default $UNIFIED_API_KEY)",
    )
    parser.add_argument(
        "--scale",
        type=_scale,
        default=1.0,
        help=f"{', '.join(SCALES)} or a factor; full = {FULL['test']} test runs, "
        f"{FULL['generator']} generator tasks, {FULL['benchmark']} benchmark runs",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default %(default)s)")
    parser.add_argument("--workers", type=int, default=8, help="parallel requests for steps")
    args = parser.parse_args(argv)
    if not args.key:
        print(
            "demo-data: give --key (the key printed when the suite first started) or set "
            "UNIFIED_API_KEY",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    try:
        counts = load(args.url, args.key, args.seed, args.scale, workers=args.workers)
    except requests.RequestException as exc:
        print(f"demo-data: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        hint = (
            " (this seed's data is probably loaded already; use another --seed)"
            if " 409 " in str(exc)
            else ""
        )
        print(f"demo-data: {exc}{hint}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in counts.items())
    print(f"Loaded {summary} in {time.monotonic() - started:.1f} s.")
    return 0
