"""Measure the Test Suite's flaky, compare and history through the service beside plain DuckDB.

    python scripts/bench_test_analysis.py [--runs 3000] [--tests 100] [--repeat 7]

Fills a fresh database with ``--runs`` finished runs of ``--tests`` steps each, spread over ten
configurations (5 models x 2 devices) and batches of one run per configuration: the first 5
tests of each run pass or fail at random, the next 5 always fail, one in 20 is skipped, the
rest pass. It copies the file, starts the real Test Suite service (gunicorn) on one copy and
opens the other directly in DuckDB, then times each analysis through the API and as the very
same SQL (built by the same code) run directly, alternately, and prints the medians.
"""

import argparse
import sys
from pathlib import Path

import duckdb
import requests
from werkzeug.datastructures import MultiDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_query import paired, served_beside_duckdb

from unified_api_server.components.test import analysis
from unified_api_server.core.data.database import Database, load_migrations
from unified_api_server.core.web.args import parse_query
from unified_api_server.registry import BY_NAME

COMPONENT = BY_NAME["test"]
CONFIGURATIONS = 10  # run i is of configuration i % 10: model (i % 10) // 2, device i % 2
START = "TIMESTAMPTZ '2026-01-01 00:00:00+00'"


def fill(path, runs, tests):
    """Create the Test Suite's tables in ``path`` and fill them with planted runs and steps."""
    database = Database(str(path), load_migrations(COMPONENT.migrations_package))
    database.ping()
    database.close()
    status = """CASE WHEN t < 5 THEN (CASE WHEN hash(i, t) % 3 = 0 THEN 'failed' ELSE 'passed' END)
        WHEN t < 10 THEN 'failed' WHEN t % 20 = 19 THEN 'skipped' ELSE 'passed' END"""
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            "INSERT INTO test_batch_runs (batch_id) SELECT printf('night-%05d', n) FROM range(?) "
            "r(n)",
            [runs // CONFIGURATIONS + 1],
        )
        connection.execute(
            f"""INSERT INTO test_runs (run_id, model_name, hardware, status, test_type,
                started_at, batch_id)
            SELECT printf('run-%07d', i), 'model-' || ((i % 10) // 2),
                CASE WHEN i % 2 = 0 THEN ['cpu'] ELSE ['cuda'] END, 'completed', 'basic',
                {START} + to_minutes(i), printf('night-%05d', i // 10)
            FROM range(?) r(i)""",
            [runs],
        )
        connection.execute(
            f"""INSERT INTO test_run_steps (run_id, name, status, started_at)
            SELECT printf('run-%07d', i), printf('test_%03d', t), {status},
                {START} + to_minutes(i)
            FROM range(?) r(i), range(?) s(t) ORDER BY i, t""",
            [runs, tests],
        )


def cases(runs):
    """Return ``(label, route, args, sql, params)``: each call and the SQL it runs."""
    last, first = (runs // CONFIGURATIONS) - 1, 0
    found = []
    for label, args, window in (
        ("flaky, all models, window 20", {}, 20),
        ("flaky, one model, window 20", {"model_name": "model-1"}, 20),
        ("flaky, all models, window 300", {}, 300),
    ):
        sql, params = analysis.flaky_sql(COMPONENT, parse_query(COMPONENT, MultiDict(args)))
        found.append((label, "flaky", {**args, "window": window}, sql, [*params, window, 2, 100]))
    batches = (f"night-{first:05d}", f"night-{last:05d}")
    found.append(
        (
            "compare two batches (10 runs each)",
            "compare",
            {"baseline": batches[0], "contender": batches[1]},
            analysis.compare_sql("batch", "batch"),
            [*batches, 100],
        )
    )
    for bucket in ("run", "day"):
        query = parse_query(COMPONENT, MultiDict({"model_name": "model-1"}))
        sql, params = analysis.history_sql(COMPONENT, query, bucket)
        args = {"model_name": "model-1", "bucket": bucket}
        found.append((f"history of one model by {bucket}", "history", args, sql, [*params, 1000]))
    return found


def main():
    """Fill, serve and measure; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    fill_file = lambda path: fill(path, options.runs, options.tests)  # noqa: E731
    with served_beside_duckdb("test", "bench-test-analysis-", fill_file) as (service, direct, _):
        session = requests.Session()
        base = f"{service.url}/api/test/db"
        print(f"{options.runs:,} runs x {options.tests} tests; median of {options.repeat}, ms")
        print(f"{'analysis':<36} {'rows':>5} {'api':>8} {'duckdb':>8} {'ratio':>6}")
        for label, route, args, sql, params in cases(options.runs):
            api_s, direct_s = paired(
                lambda r=route, a=args: session.get(f"{base}/{r}", params=a).raise_for_status(),
                lambda s=sql, p=params: direct.execute(s, p).fetchall(),
                options.repeat,
            )
            rows = len(direct.execute(sql, params).fetchall())
            print(
                f"{label:<36} {rows:5} {api_s * 1e3:8.1f} {direct_s * 1e3:8.1f} "
                f"{api_s / direct_s:6.2f}"
            )


if __name__ == "__main__":
    main()
