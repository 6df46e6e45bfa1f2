"""``unified-api-server demo-data``: load a realistic, deterministic data set through the API.

Everything goes through the public HTTP API (batches, bulk NDJSON ingest, then each item's
child rows), for every registered component, so loading the demo also exercises ingest. The
rows come from :class:`~unified_api_server.tools.demo_data.DemoData`. Without ``--key`` it uses
a one-hour key made in the key store of ``--data-dir`` (the suite's), and deletes it after.
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import click
import orjson
import requests

from unified_api_server.core.settings import DATA_DIR, SettingsGroup
from unified_api_server.gateway.keys import KeyStore, KeyStoreError, utcnow
from unified_api_server.registry import COMPONENTS
from unified_api_server.tools.demo_data import SCALES, DemoData

BULK_ROWS = 20_000  # rows per bulk request


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
            f"{self.label:<22} [{'#' * int(fraction * 30):<30}] {fraction:4.0%} "
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

    def load(self, component, data):
        """Send ``component``'s batches, items (bulk NDJSON) and child rows; return the counts."""
        base = f"/api/db/{component.name}"
        for body in data.batches(component):
            self.call("POST", f"{base}/batches", json=body)
        progress = Progress(f"{component.name} {component.entities}", data.size(component))
        children, lines = {}, []
        for row, kids in data.items(component):
            lines.append(orjson.dumps({k: v for k, v in row.items() if v is not None}))
            children.update({(row[component.id_column], key): rows for key, rows in kids.items()})
            if len(lines) >= BULK_ROWS:
                self._bulk(base, component, lines, progress)
                lines = []
        if lines:
            self._bulk(base, component, lines, progress)
        self._children(base, component, children)
        child_rows = sum(len(rows) for rows in children.values())
        return {component.entities: progress.done, "child rows": child_rows}

    def _bulk(self, base, component, lines, progress):
        headers = {"Content-Type": "application/x-ndjson"}
        self.call(
            "POST", f"{base}/{component.entities}/bulk", data=b"\n".join(lines), headers=headers
        )
        progress.advance(len(lines))

    def _children(self, base, component, children):
        """Attach child rows to their items, several requests at a time."""
        items = [(key, rows) for key, rows in children.items() if rows]
        if not items:
            return
        progress = Progress(f"{component.name} child rows", len(items))

        def send(entry):
            (item_id, key), rows = entry
            self.call("POST", f"{base}/{component.entity}/{item_id}/{key}", json=rows)

        with ThreadPoolExecutor(self.workers) as pool:
            for index, _ in enumerate(pool.map(send, items), 1):
                if index % 50 == 0 or index == len(items):
                    progress.advance(50 if index % 50 == 0 else index % 50)


def load(url, key, seed=42, scale=1.0, anchor=None, workers=8):
    """Load the demo data set into the suite at ``url``; return the counts per component."""
    data = DemoData(seed, scale, anchor)
    loader = Loader(url, key, workers)
    return {component.name: loader.load(component, data) for component in COMPONENTS}


def _scale(value):
    if value in SCALES:
        return SCALES[value]
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"expected one of {', '.join(SCALES)} or a number") from None
    if not 0 < number <= 10:
        raise click.BadParameter("must be in (0, 10]")
    return number


def _temporary_key(data_dir):
    """Make a one-hour write key in the suite's key store; return ``(store, name, key)``."""
    path = os.path.join(data_dir, "keys.sqlite3")
    if not os.path.exists(path):
        raise click.UsageError(
            f"no key store at {path}: give --key, or --data-dir of a suite that ran once"
        )
    store = KeyStore(path)
    name = f"demo-data-{utcnow().strftime('%Y%m%dT%H%M%S%f')}"
    key = store.create(name, "read,write", utcnow() + timedelta(hours=1), rate=0)  # a loader
    return store, name, key


@click.command("demo-data")
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, help="gateway or nginx")
@click.option(
    "--key", envvar="UNIFIED_API_KEY", help="API key with the write scope [$UNIFIED_API_KEY]"
)
@DATA_DIR.option()
@click.option("--scale", default="1", help=f"{', '.join(SCALES)} or a factor of the full set")
@click.option("--seed", type=int, default=42, show_default=True, help="random seed")
@click.option("--workers", type=int, default=8, show_default=True, help="parallel requests")
def demo_data(url, key, data_dir, scale, seed, workers):
    """Load a realistic, deterministic demo data set through the API."""
    scale = _scale(scale)
    data_dir = SettingsGroup((DATA_DIR,), env_prefix="UAS_").load(flags={"data_dir": data_dir})
    temporary = None if key else _temporary_key(data_dir["data_dir"])
    started = time.monotonic()
    try:
        counts = load(url, key or temporary[2], seed, scale, workers=workers)
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from None
    except RuntimeError as exc:
        hint = " (this seed's data is probably loaded already; use another --seed)"
        raise click.ClickException(f"{exc}{hint if ' 409 ' in str(exc) else ''}") from None
    finally:
        if temporary:
            try:
                temporary[0].delete(temporary[1])
            except KeyStoreError:
                pass
    summary = "; ".join(
        f"{name}: " + ", ".join(f"{n} {what}" for what, n in parts.items() if n)
        for name, parts in counts.items()
    )
    click.echo(f"Loaded {summary} in {time.monotonic() - started:.1f} s.")
