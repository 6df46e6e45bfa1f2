"""Measure a series' history and a comparison of two batches through the Benchmark service.

    python scripts/bench_history.py [--rows 10000000] [--repeat 7] [--points 500]
    python scripts/bench_history.py --ingest 100000 [--repeat 3]

Fills a fresh database with ``--rows`` generated runs (``bench_query.fill``: tens of thousands
of configurations), makes one configuration a series of ``--series`` points spread through the
whole table, and two batches of ``--batch`` runs each, paired by configuration, with named
metrics. It copies the file, starts the real component service (gunicorn) on one copy and opens
the other directly in DuckDB, then times ``/history`` (downsampled to ``--points``) beside the
very same SQL (its two statements, by the same function), and ``/compare`` of the two
batches. Targets: history <= 100 ms and <= 1.5x the SQL run directly; compare <= 150 ms.
Both copies hold the index on the series key (``Component.indexes``), built as a service builds
it when it opens the file.

``--ingest ROWS`` instead measures what that index costs a bulk load: ``ROWS`` demo runs
(``bench_judge.demo_rows``) bulk-loaded in-process into a fresh file with the index and without
it, alternating, unjudged (no ``after_write``: the index's share of the plain load) and judged.
"""

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_judge import chunks, demo_rows, load
from bench_query import fill, paired, served_beside_duckdb

from unified_api_server.components.benchmark.series import SeriesKey, series_key_sql
from unified_api_server.components.benchmark.series_read import series_bodies
from unified_api_server.core.data.database import Database, load_migrations
from unified_api_server.registry import BY_NAME

KEY = SeriesKey("bench-series", "cuda:0", 8, "fp16", "latency_ms_mean")


def plant(path, rows, series, batch):
    """Make one series of ``series`` points through the table, and two batches of ``batch``."""
    every = max(1, rows // series)
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            "UPDATE benchmark_runs SET model_name = ?, hardware = ?, batch_size = ?, "
            "precision = ? WHERE CAST(run_id AS BIGINT) % ? = 7",
            [KEY.model_name, KEY.hardware, KEY.batch_size, KEY.precision, every],
        )
        connection.execute(
            "INSERT INTO benchmark_batch_runs (batch_id) VALUES ('bench-before'), ('bench-after')"
        )
        # Runs i and i + batch share a configuration: model_name is i % 97 ... (bench_query).
        for name, low in (("bench-before", 1), ("bench-after", 1 + batch)):
            connection.execute(
                "UPDATE benchmark_runs SET batch_id = ?, model_name = 'pair-' || "
                "(CAST(run_id AS BIGINT) - ?), hardware = 'cpu', batch_size = 1, "
                "precision = 'fp32' "
                "WHERE CAST(run_id AS BIGINT) BETWEEN ? AND ?",
                [name, low, low, low + batch - 1],
            )
        # Runs changed by SQL are keyed again, as the write path keys a run it stores.
        connection.execute(
            f"UPDATE benchmark_runs SET series_key = {series_key_sql()} "
            "WHERE model_name = ? OR batch_id IN ('bench-before', 'bench-after')",
            [KEY.model_name],
        )
        connection.execute(
            "INSERT INTO benchmark_metrics (run_id, name, value, lower_is_better) "
            "SELECT run_id, 'metric_' || m, random(), m % 2 = 0 FROM benchmark_runs, range(4) t(m) "
            "WHERE batch_id IN ('bench-before', 'bench-after')"
        )
        connection.execute("CHECKPOINT")


def main():
    """Fill, serve and measure; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--ingest", type=int, default=0, help="measure the index at ingest")
    options = parser.parse_args()
    component = BY_NAME["benchmark"]
    if options.ingest:
        ingest(component, options.ingest, options.repeat)
        return

    def fill_file(path):
        fill(path, component, options.rows)
        plant(path, options.rows, options.series, options.batch)
        start = time.perf_counter()  # as the service builds it when it opens the file
        database = Database(str(path), load_migrations(component.migrations_package),
                            indexes=component.indexes)  # fmt: skip
        database.ping()
        database.close()
        print(f"index on the series key built in {time.perf_counter() - start:.1f} s")

    with served_beside_duckdb("benchmark", "bench-history-", fill_file) as (service, direct, _):
        measure(options, requests.Session(), f"{service.url}/api/benchmark/db", direct)


def measure(options, session, base, direct):
    """Time history beside its SQL (the very function the service answers with, run on the
    other copy directly), then compare; print one line each."""
    args = {
        "model_name": KEY.model_name,
        "hardware": KEY.hardware,
        "batch_size": KEY.batch_size,
        "precision": KEY.precision,
        "metric": KEY.metric,
        "points": options.points,
    }
    shown = session.get(f"{base}/history", params=args).json()
    parts = {"hardware": KEY.hardware, "batch_size": KEY.batch_size, "precision": KEY.precision}
    print(f"{options.rows:,} runs; series of {shown['count']:,} points shown as "
          f"{len(shown['points'])}; median of {options.repeat}, ms")  # fmt: skip
    api_s, direct_s = paired(
        lambda: session.get(f"{base}/history", params=args).raise_for_status(),
        lambda: series_bodies(
            direct,
            KEY.model_name,
            KEY.metric,
            [parts],
            include=(),
            window=None,
            points=options.points,
            since=None,
            until=None,
            judged=0,
        ),
        options.repeat,
    )
    ok = api_s <= 0.100 and api_s <= 1.5 * direct_s
    verdict = "ok" if ok else "MISSED"
    print(f"history   api {api_s * 1e3:7.1f}  duckdb {direct_s * 1e3:7.1f}  "
          f"ratio {api_s / direct_s:4.2f}  {verdict} (100 ms, 1.5x)")  # fmt: skip
    pair = {"baseline": "bench-before", "contender": "bench-after"}
    compared = session.get(f"{base}/compare", params=pair).json()
    compare_s, _ = paired(
        lambda: session.get(f"{base}/compare", params=pair).raise_for_status(),
        lambda: None,
        options.repeat,
    )
    print(f"compare   api {compare_s * 1e3:7.1f}  ({compared['counts']['pairs']} pairs)  "
          f"{'ok' if compare_s <= 0.150 else 'MISSED'} (150 ms)")  # fmt: skip


def ingest(component, rows, repeat):
    """Bulk-load ``rows`` demo runs (and two named metrics each) into fresh files with the
    series index and without it, alternating, unjudged and judged; print the medians."""
    runs, metrics = demo_rows(rows)
    bodies = chunks(runs, 25_000), chunks(metrics, 100_000)
    for judged in (False, True):
        with_index = component if judged else dataclasses.replace(component, after_write=None)
        sides = {"index": with_index, "none": dataclasses.replace(with_index, indexes=())}
        times = {name: [] for name in sides}
        for _ in range(repeat):
            for name, side in sides.items():
                with tempfile.TemporaryDirectory() as folder:
                    cpu = time.process_time()
                    wall = load(side, Path(folder), *bodies)
                    times[name].append((wall, time.process_time() - cpu))
        (wall, cpu), (bare_wall, bare_cpu) = (
            [statistics.median(t[i] for t in times[name]) for i in (0, 1)] for name in sides
        )
        print(f"{rows:,} runs {'judged' if judged else 'unjudged'}, median of {repeat}: "
              f"with the index {wall:.2f} s ({cpu:.2f} s CPU), without {bare_wall:.2f} s "
              f"({bare_cpu:.2f} s CPU): {wall / bare_wall:.3f}x wall, "
              f"{cpu / bare_cpu:.3f}x CPU")  # fmt: skip


if __name__ == "__main__":
    main()
