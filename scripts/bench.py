"""Measure bulk ingest and grouped statistics through a component's API beside plain DuckDB.

    python scripts/bench.py [--rows 1000000] [--components test,generator,benchmark]

For each registered component: start the real service (gunicorn) on a fresh DuckDB file, POST
its demo rows as NDJSON to its bulk endpoint in chunks, then time its statistics endpoint (its
own grouping if it has one, else per model); do the same work directly in DuckDB (read_json
into the same schema, the same aggregate SQL) in one run, so the ratio is taken side by side on
the same noisy machine.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ServiceProcess
from unified_api_server.core.data.database import Database, load_migrations
from unified_api_server.core.data.stats import aggregates
from unified_api_server.registry import BY_NAME, NAMES
from unified_api_server.tools.demo_data import GENERIC, DemoData


def rows_of(component, count):
    """Return ``count`` flat demo rows of ``component``, without ids (the server makes them,
    time-ordered) and without batches (there are none here)."""
    size = (component.demo or GENERIC).size
    data = DemoData(seed=42, scale=count / size)
    left_out = {"batch_id", component.id_column}
    return [{k: v for k, v in row.items() if k not in left_out} for row, _ in data.items(component)]


def stats_route(component):
    """Return the statistics route timed and its grouping columns."""
    if component.group_stats:
        route, keys = component.group_stats[0]
        return route, tuple(keys)
    return "models/stats", ("model_name",)


def median_seconds(fn, repeat=5):
    """Return the median wall time of ``fn()`` over ``repeat`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_component(name, rows_total, chunk, folder):
    """Return the measured figures of one component."""
    comp = BY_NAME[name]
    rows = rows_of(comp, rows_total)
    chunks = [
        b"\n".join(orjson.dumps(r) for r in rows[i : i + chunk]) for i in range(0, len(rows), chunk)
    ]
    ndjson = folder / f"{name}.ndjson"
    ndjson.write_bytes(b"\n".join(chunks))

    service = ServiceProcess.component(name, folder).wait_ready()
    try:
        url = f"{service.url}/api/{name}/db/{comp.entities}/bulk"
        session = requests.Session()
        start = time.perf_counter()
        for body in chunks:
            response = session.post(
                url, data=body, headers={"Content-Type": "application/x-ndjson"}
            )
            response.raise_for_status()
        api_ingest = len(rows) / (time.perf_counter() - start)
        route, keys = stats_route(comp)
        stats_url = f"{service.url}/api/{name}/db/{route}"
        api_stats = median_seconds(lambda: session.get(stats_url).raise_for_status())
    finally:
        service.stop()

    direct_path = str(folder / f"{name}-direct.duckdb")
    schema = Database(direct_path, load_migrations(comp.migrations_package))
    schema.ping()  # creates the same tables the service has
    schema.close()
    connection = duckdb.connect(direct_path)
    columns = ", ".join(sorted({k for r in rows[:1000] for k in r}))
    start = time.perf_counter()
    connection.execute(
        f"INSERT INTO {comp.table} ({comp.id_column}, {columns}) "
        f"SELECT uuidv7()::VARCHAR, {columns} FROM read_json(?, format='newline_delimited')",
        [str(ndjson)],
    )
    direct_ingest = len(rows) / (time.perf_counter() - start)
    group = ", ".join(f"t.{key}" for key in keys)
    sql = f"SELECT {group}, {aggregates(comp)} FROM {comp.table} t GROUP BY {group}"
    direct_stats = median_seconds(lambda: connection.execute(sql).fetchall())
    connection.close()
    return {
        "component": name,
        "rows": len(rows),
        "api_ingest_rows_s": api_ingest,
        "duckdb_ingest_rows_s": direct_ingest,
        "api_stats_ms": api_stats * 1000,
        "duckdb_stats_ms": direct_stats * 1000,
    }


def main():
    """Run the benchmark and print one line per component."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=200_000)
    parser.add_argument("--components", default=",".join(NAMES))
    args = parser.parse_args()
    print(
        f"{'component':<10} {'rows':>9} {'API ingest rows/s':>18} {'DuckDB rows/s':>14} "
        f"{'ratio':>6} {'API stats ms':>13} {'DuckDB stats ms':>16}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.components.split(","):
            r = bench_component(name, args.rows, args.chunk, Path(tmp))
            print(
                f"{r['component']:<10} {r['rows']:>9} {r['api_ingest_rows_s']:>18,.0f} "
                f"{r['duckdb_ingest_rows_s']:>14,.0f} "
                f"{r['api_ingest_rows_s'] / r['duckdb_ingest_rows_s']:>6.2f} "
                f"{r['api_stats_ms']:>13.1f} {r['duckdb_stats_ms']:>16.1f}",
                flush=True,
            )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
