"""Measure storage = ducklake beside the embedded DuckDB file, through the real service.

    .venv-lake/bin/python scripts/bench_lake.py [--rows 1000000] [--piece 200000] [--repeat 9]

Needs the lake extra (duckdb 1.5.5 with the DuckLake and postgres extension wheels) and
PostgreSQL's programs: it starts its own PostgreSQL server (tests/pg.py), then one Test Suite
component on a DuckDB file and one on DuckLake (catalog in that server, Parquet in a temporary
folder), and for each, side by side:

- bulk ingest: ``--rows`` runs as NDJSON uploads of ``--piece`` rows (POST .../runs/bulk);
- statistics: ``GET .../models/stats`` over every row (grouped counts and quantiles);
- a point read: ``GET .../run/{id}`` of a run among them.

Targets (issue 15): ingest at least 0.5x the embedded rows/s, statistics at most 2x and a point
read at most 3x the embedded time. Medians of ``--repeat`` calls, after one warm-up call, with
the response cache off (it is the same in both storages).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import pg
from tests.support import ServiceProcess

ITEMS = "/api/test/db/runs"
STATUSES = ("completed", "failed", "running")


def upload(service, rows, piece):
    """POST ``rows`` runs in uploads of ``piece``; return rows per second."""
    started = time.perf_counter()
    for first in range(0, rows, piece):
        body = b"\n".join(
            orjson.dumps(
                {
                    "model_name": f"model-{i % 50}",
                    "hardware": ["cpu"] if i % 4 else ["cuda"],
                    "status": STATUSES[i % 3],
                    "duration": float(i % 997),
                }
            )
            for i in range(first, min(rows, first + piece))
        )
        response = requests.post(f"{service.url}{ITEMS}/bulk", data=body, timeout=900)
        response.raise_for_status()
    return rows / (time.perf_counter() - started)


def timed(service, path, repeat):
    """Return the median milliseconds of ``repeat`` GETs of ``path`` (after a warm-up)."""
    session = requests.Session()
    session.get(service.url + path, timeout=120).raise_for_status()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        session.get(service.url + path, timeout=120).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(service, args):
    """Return the three figures of one service."""
    rate = upload(service, args.rows, args.piece)
    run_id = service.get(ITEMS, params={"limit": 1}).json()["runs"][0]["run_id"]
    return {
        "ingest rows/s": rate,
        "statistics ms": timed(service, "/api/test/db/models/stats", args.repeat),
        "point read ms": timed(service, f"/api/test/db/run/{run_id}", args.repeat * 5),
    }


def main():
    """Run both services, measure them, and print the table with the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--piece", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    with pg.running() as server:
        url = server.create_database("bench_lake")
        lake_args = ["--storage", "ducklake", "--catalog-url", url,
                     "--data-path", str(folder / "lake"), "--compact-interval", "0"]  # fmt: skip
        figures = {}
        uncached = ["--cache-ttl", "0"]  # the database's time, not the response cache's
        for label, extra in (("embedded", uncached), ("ducklake", uncached + lake_args)):
            (folder / label).mkdir()
            service = ServiceProcess.component("test", folder / label, extra_args=extra)
            try:
                service.wait_ready(timeout=120)
                figures[label] = measure(service, args)
            finally:
                service.stop()
    print(f"{args.rows:,} rows, uploads of {args.piece:,}; medians of {args.repeat} calls")
    print("| figure | embedded | ducklake | ratio |\n| --- | ---: | ---: | ---: |")
    for name in figures["embedded"]:
        embedded, lake = figures["embedded"][name], figures["ducklake"][name]
        print(f"| {name} | {embedded:,.1f} | {lake:,.1f} | {lake / embedded:.2f}x |")


if __name__ == "__main__":
    main()
