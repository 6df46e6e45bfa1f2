"""Measure sorted and filtered lists, and total=true, through a component beside plain DuckDB.

    python scripts/bench_query.py [--rows 1000000] [--component benchmark] [--repeat 7] [--only A,B]

Fills a fresh database with ``--rows`` generated rows (in SQL, every column of the component
filled by its kind), copies it, starts the real component service (gunicorn) on one copy and
opens the other directly in DuckDB. Then, for every sortable field, it lists a page sorted by
it and a page filtered on it, and runs the very same SQL directly, alternating the two in one
run so the ratio is taken side by side. Targets: API <= 1.5x DuckDB + 2 ms; total=true adds
<= 20 ms.
"""

import argparse
import http.client
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import duckdb
from werkzeug.datastructures import MultiDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ServiceProcess
from unified_api_server.core.data.database import Database, load_migrations
from unified_api_server.core.data.derived import column_defaults, derived
from unified_api_server.core.data.reads import Reads
from unified_api_server.core.web.args import TOTAL_CAP, filterable, parse_query, sortable
from unified_api_server.registry import BY_NAME

START = "TIMESTAMPTZ '2026-01-01 00:00:00+00'"


def generated(column, component):
    """Return the SQL of a value for ``column`` in row ``i`` (spread, some nulls where allowed)."""
    if column.choices:
        choices = ", ".join(f"'{c}'" for c in column.choices)
        return f"([{choices}])[1 + (i * 7) % {len(column.choices)}]"
    kind = column.kind
    null = "" if not column.nullable else "CASE WHEN i % 17 = 0 THEN NULL ELSE "
    end = "" if not column.nullable else " END"
    if kind == "str":
        return f"{null}'{column.name}-' || (i % 97){end}"
    if kind == "str_list":
        return "CASE WHEN i % 4 = 0 THEN ['cuda'] ELSE ['cpu'] END"
    if kind == "int":
        low = int(column.minimum or 0)
        return f"{null}{low} + (i * 13) % 64{end}"
    if kind == "float":
        high = column.maximum if column.maximum is not None else 1000.0
        return f"{null}((i * 7919) % 10007) / 10007.0 * {high}{end}"
    if kind == "bool":
        return "i % 2 = 0"
    if kind == "ts":
        return f"{START} + to_seconds(i * 3)"
    return "NULL"


def fill(path, component, rows):
    """Create the component's tables in ``path`` and fill the main one with ``rows`` rows."""
    database = Database(str(path), load_migrations(component.migrations_package))
    database.ping()
    database.close()
    columns = [c for c in component.columns if c.kind != "json"]
    names = [component.id_column, *(c.name for c in columns)]
    values = ["printf('%012d', i)", *(generated(c, component) for c in columns)]
    # The columns the write path derives (the Benchmark's series key), as it would fill them.
    with duckdb.connect(str(path)) as connection:
        existing = column_defaults(connection, component.table)
    for name, sql in derived(component, dict(zip(names, values)), existing):
        names.append(name)
        values.append(sql)
    names, values = ", ".join(names), ", ".join(values)
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            f"INSERT INTO {component.table} ({names}) SELECT {values} FROM range(?) r(i)", [rows]
        )


@contextmanager
def served_beside_duckdb(name, prefix, fill_file):
    """Fill a fresh file with ``fill_file(path)``, copy it, serve one copy with the real
    component ``name`` (gunicorn) and open the other read-only in DuckDB, with the service's
    own settings (2 threads, UTC). Yield ``(service, direct, folder)``; both end, and the
    folder goes, afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        served = folder / f"{name}.duckdb"
        fill_file(served)
        shutil.copy(served, folder / "direct.duckdb")
        direct = duckdb.connect(str(folder / "direct.duckdb"), read_only=True)
        direct.execute("SET threads = 2")  # as the service's duckdb_threads
        direct.execute("SET TimeZone = 'UTC'")
        try:
            service = ServiceProcess.component(name, folder).wait_ready()
            try:
                yield service, direct, folder
            finally:
                service.stop()
        finally:
            direct.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cases(component):
    """Return ``(label, query string arguments)`` for every sortable and filterable field."""
    found = []
    for name in sortable(component):
        found.append((f"sort=-{name}", {"sort": f"-{name}"}))
    for name, column in filterable(component).items():
        if column.kind in ("int", "float", "ts"):
            value = {"int": "30", "float": "50", "ts": "2026-01-18T00:00:00Z"}[column.kind]
            found.append((f"{name}__gt", {f"{name}__gt": value, "sort": f"{name}"}))
        elif column.kind == "str_list":
            found.append((f"{name}=cuda", {name: "cuda"}))
        elif column.choices:
            found.append((f"{name}__in", {f"{name}__in": ",".join(column.choices[:2])}))
        elif column.kind == "str":
            found.append((f"{name}__ne", {f"{name}__ne": f"{name}-3"}))
    return found


def direct_sql(component, reads, args, limit=100):
    """Return the SQL and parameters the service runs for ``args`` (built by the same code)."""
    query = parse_query(component, MultiDict(args), "list")
    where, params = query.where(component)
    sql = (
        f"SELECT {reads.select_list} FROM {component.table} t {where} "
        f"{query.order_by(component)} LIMIT ?"
    )
    return sql, [*params, limit + 1], query


class KeepAlive:
    """GET over one kept-alive connection, as a CI client's pooled session does.

    The standard library's client costs about 0.1 ms a call; ``requests`` costs 1 to 2.5 ms of
    its own Python on this machine, which is the client's time, not the service's.
    """

    def __init__(self, url):
        parts = urlsplit(url)
        self.base = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def get(self, params=None, path=""):
        """Return the body of ``GET base+path?params``; raise unless the answer is a 200."""
        target = self.base + path + ("?" + urlencode(params) if params else "")
        try:
            self.connection.request("GET", target)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):  # the server's idle timeout
            self.connection.close()
            self.connection.request("GET", target)
            response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {target}: {response.status} {body[:200]!r}")
        return body


def paired(api_call, direct_call, repeat):
    """Return median (api, direct) seconds, alternating the two calls after a warm-up."""
    api_call(), direct_call()
    api, direct = [], []
    for _ in range(repeat):
        for call, times in ((api_call, api), (direct_call, direct)):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return statistics.median(api), statistics.median(direct)


def main():
    """Fill, serve and measure; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--component", default="benchmark")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated labels to run (default all)")
    options = parser.parse_args()
    component = BY_NAME[options.component]
    reads = Reads(component)
    fill_file = lambda path: fill(path, component, options.rows)  # noqa: E731
    with served_beside_duckdb(component.name, "bench-query-", fill_file) as (service, direct, _):
        api = KeepAlive(f"{service.url}/api/{component.name}/db/{component.entities}")
        print(f"{options.rows:,} rows of {component.name}; median of {options.repeat}, ms")
        print(f"{'query':<28} {'api':>8} {'duckdb':>8} {'ratio':>6} {'target':>8}")
        chosen = [
            c for c in cases(component) if not options.only or c[0] in options.only.split(",")
        ]
        for label, args in chosen:
            sql, params, _ = direct_sql(component, reads, args)
            api_s, direct_s = paired(
                lambda a=args: api.get({**a, "limit": 100}),
                lambda s=sql, p=params: direct.execute(s, p).fetchall(),
                options.repeat,
            )
            target = 1.5 * direct_s + 0.002
            verdict = "ok" if api_s <= target else "MISSED"
            print(
                f"{label:<28} {api_s * 1e3:8.1f} {direct_s * 1e3:8.1f} "
                f"{api_s / direct_s:6.2f} {verdict:>8}"
            )
        plain, total = paired(
            lambda: api.get({"limit": 100}),
            lambda: api.get({"limit": 100, "total": "true"}),
            options.repeat,
        )
        print(f"total=true adds {(total - plain) * 1e3:.1f} ms (cap {TOTAL_CAP:,}; target 20 ms)")


if __name__ == "__main__":
    main()
