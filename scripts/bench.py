"""Measure bulk ingest and grouped statistics through a component's API beside plain DuckDB.

    python scripts/bench.py [--rows 1000000] [--components test,generator,benchmark]
    python scripts/bench.py --stats-only [--rows 1000000] [--repeat 9]

For each registered component: start the real service (gunicorn, response cache off) on a fresh
DuckDB file, POST its demo rows as NDJSON to its bulk endpoint in chunks, and insert the same
rows directly into DuckDB (read_json into the same schema). Then time each statistics endpoint
(``models/stats`` and the component's own grouping) against the very SQL it runs (built by the
same code), run directly, alternating the two in one run, so the ratio is taken side by side on
the same noisy machine. ``--stats-only`` skips the ingest and fills both files in SQL instead.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson
import requests
from werkzeug.datastructures import MultiDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_query import fill, paired

from tests.support import ServiceProcess
from unified_api_server.core.data.database import Database, load_migrations
from unified_api_server.core.data.stats import stats_sql
from unified_api_server.core.web.args import parse_query
from unified_api_server.registry import BY_NAME, NAMES
from unified_api_server.tools.demo_data import GENERIC, DemoData

NO_CACHE = ("--cache-ttl", "0")  # every request computes its answer


def rows_of(component, count):
    """Return ``count`` flat demo rows of ``component``, without ids (the server makes them,
    time-ordered) and without batches (there are none here)."""
    size = (component.demo or GENERIC).size
    data = DemoData(seed=42, scale=count / size)
    left_out = {"batch_id", component.id_column}
    return [{k: v for k, v in row.items() if k not in left_out} for row, _ in data.items(component)]


def stats_routes(component):
    """Return ``(route, grouping, with summary)`` of every statistics answer timed."""
    routes = [("models/stats", "model_name", True)]
    routes += [(route, tuple(keys), False) for route, keys in component.group_stats]
    return routes


def ingest(comp, rows_total, chunk, folder):
    """Fill the service's and the direct file with the same demo rows; return rows/s of each."""
    rows = rows_of(comp, rows_total)
    chunks = [
        b"\n".join(orjson.dumps(r) for r in rows[i : i + chunk]) for i in range(0, len(rows), chunk)
    ]
    ndjson = folder / f"{comp.name}.ndjson"
    ndjson.write_bytes(b"\n".join(chunks))
    service = ServiceProcess.component(comp.name, folder, extra_args=NO_CACHE).wait_ready()
    try:
        url = f"{service.url}/api/{comp.name}/db/{comp.entities}/bulk"
        session = requests.Session()
        start = time.perf_counter()
        for body in chunks:
            response = session.post(
                url, data=body, headers={"Content-Type": "application/x-ndjson"}
            )
            response.raise_for_status()
        api_ingest = len(rows) / (time.perf_counter() - start)
    finally:
        service.stop()
    direct_path = str(folder / f"{comp.name}-direct.duckdb")
    schema = Database(direct_path, load_migrations(comp.migrations_package))
    schema.ping()  # creates the same tables the service has
    schema.close()
    columns = ", ".join(sorted({k for r in rows[:1000] for k in r}))
    with duckdb.connect(direct_path) as connection:
        start = time.perf_counter()
        connection.execute(
            f"INSERT INTO {comp.table} ({comp.id_column}, {columns}) "
            f"SELECT uuidv7()::VARCHAR, {columns} FROM read_json(?, format='newline_delimited')",
            [str(ndjson)],
        )
        direct_ingest = len(rows) / (time.perf_counter() - start)
    return {"rows": len(rows), "api_rows_s": api_ingest, "duckdb_rows_s": direct_ingest}


def bench_stats(comp, folder, repeat):
    """Return ``(route, api s, direct s, groups alone s)`` per answer, paired in one run."""
    service = ServiceProcess.component(comp.name, folder, extra_args=NO_CACHE).wait_ready()
    connection = duckdb.connect(str(folder / f"{comp.name}-direct.duckdb"), read_only=True)
    session = requests.Session()
    query = parse_query(comp, MultiDict())
    found = []
    try:
        for route, key, summary in stats_routes(comp):
            url = f"{service.url}/api/{comp.name}/db/{route}"
            sql, params = stats_sql(comp, query, key, summary=summary)

            def direct(sql=sql, params=params):
                connection.execute(sql, params).fetchall()

            api_s, direct_s = paired(
                lambda url=url: session.get(url).raise_for_status(), direct, repeat
            )
            grouped_s = direct_s
            if summary:  # the groups alone, for what the summary row costs
                alone = stats_sql(comp, query, key)
                grouped_s, _ = paired(lambda alone=alone: direct(*alone), direct, repeat)
            found.append((route, api_s, direct_s, grouped_s))
    finally:
        service.stop()
        connection.close()
    return found


def main():
    """Run the benchmark and print one line per component and statistics answer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--components", default=",".join(NAMES))
    parser.add_argument("--stats-only", action="store_true", help="fill in SQL, time statistics")
    args = parser.parse_args()
    if not args.stats_only:
        print(
            f"{'component':<10} {'rows':>9} {'API ingest rows/s':>18} {'DuckDB rows/s':>14} ratio"
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        timed = []
        for name in args.components.split(","):
            comp = BY_NAME[name]
            if args.stats_only:
                fill(folder / f"{name}.duckdb", comp, args.rows)
                shutil.copy(folder / f"{name}.duckdb", folder / f"{name}-direct.duckdb")
            else:
                r = ingest(comp, args.rows, args.chunk, folder)
                print(
                    f"{name:<10} {r['rows']:>9} {r['api_rows_s']:>18,.0f} "
                    f"{r['duckdb_rows_s']:>14,.0f} {r['api_rows_s'] / r['duckdb_rows_s']:>5.2f}",
                    flush=True,
                )
            timed += [(name, *found) for found in bench_stats(comp, folder, args.repeat)]
    print(f"statistics, median of {args.repeat}, API vs the same SQL run directly:")
    print(
        f"{'component':<10} {'answer':<14} {'API ms':>8} {'SQL ms':>8} {'ratio':>6} "
        f"{'groups alone ms':>16}"
    )
    for name, route, api_s, direct_s, grouped_s in timed:
        print(
            f"{name:<10} {route:<14} {api_s * 1e3:>8.1f} {direct_s * 1e3:>8.1f} "
            f"{api_s / direct_s:>6.2f} {grouped_s * 1e3:>16.1f}"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
