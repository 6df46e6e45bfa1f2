"""Measure what judging every stored run costs a bulk ingest: the same load with and without it.

    python scripts/bench_judge.py [--rows 100000] [--chunk 25000] [--repeat 3] [--check]

The Benchmark API is built in-process twice on fresh DuckDB files: as registered (each bulk
upload judges its runs against their series' history in the load's transaction) and with no
``after_write`` hook. Both get the same demo rows as NDJSON through the bulk endpoint, then the
runs' named metrics (``table=metrics``, judged when they arrive), alternating the two, so the
ratio is taken side by side on the same noisy machine; the medians are reported.

``--check`` instead loads the rows once judged by the statement as registered and once by the
plain reference statement (``tests/benchmark/judge_reference.py``), and compares the two
``benchmark_verdicts`` tables row by row.
"""

import argparse
import dataclasses
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.benchmark.judge_reference import DIFFERENCES, reference_sql
from unified_api_server.components.benchmark.analysis import after_write
from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME
from unified_api_server.tools.demo_data import DemoData

BENCHMARK = BY_NAME["benchmark"]
NDJSON = {"Content-Type": "application/x-ndjson"}


def demo_rows(count):
    """Return ``count`` flat demo runs (no batches) and two named metrics of each, flat."""
    data = DemoData(seed=42, scale=count / BENCHMARK.demo.size)
    runs, metrics = [], []
    for row, _ in data.items(BENCHMARK):
        runs.append({k: v for k, v in row.items() if k != "batch_id"})
        latency = row.get("latency_ms_mean") or 1.0
        metrics += [
            {
                "run_id": row["run_id"],
                "name": "energy_j",
                "value": latency * 0.3,
                "unit": "J",
                "lower_is_better": True,
            },
            {"run_id": row["run_id"], "name": "accuracy", "value": 0.9, "lower_is_better": False},
        ]
    return runs, metrics


def chunks(rows, size):
    """Return the NDJSON bodies of ``rows`` in pieces of ``size``."""
    return [
        b"\n".join(orjson.dumps(r) for r in rows[i : i + size]) for i in range(0, len(rows), size)
    ]


def load(component, folder, runs, metrics):
    """Bulk-load ``runs`` then ``metrics`` into a fresh app; return the seconds it took."""
    app = create_app(component, {"db_path": str(folder / "bench.duckdb")})
    client = app.test_client()
    base = f"/api/{component.name}/db/{component.entities}/bulk"
    start = time.perf_counter()
    for table, bodies in (("runs", runs), ("metrics", metrics)):
        for body in bodies:
            response = client.post(f"{base}?table={table}", data=body, headers=NDJSON)
            assert response.status_code == 201, response.get_json()
            response.close()  # frees the heavy-request slot the load held
    elapsed = time.perf_counter() - start
    app.extensions["component"].database.close()
    return elapsed


def check(bodies):
    """Load ``bodies`` judged by the registered and the reference statements; compare."""
    reference = functools.partial(after_write, build=reference_sql)
    sides = (BENCHMARK, dataclasses.replace(BENCHMARK, after_write=reference))
    with tempfile.TemporaryDirectory() as folder:
        folders = [Path(folder) / name for name in ("a", "b")]
        for side, path in zip(sides, folders):
            path.mkdir()
            load(side, path, *bodies)
        with duckdb.connect() as both:
            for path in folders:
                both.execute(f"ATTACH '{path / 'bench.duckdb'}' AS {path.name} (READ_ONLY)")
            rows, verdicts = both.execute(
                "SELECT count(*), count(*) FILTER (verdict IN ('regression', 'improvement')) "
                "FROM a.benchmark_verdicts"
            ).fetchone()
            (different,) = both.execute(f"SELECT count(*) FROM ({DIFFERENCES})").fetchone()
    print(f"{rows} verdicts ({verdicts} regressions or improvements), {different} differ")
    return different == 0


def main():
    """Run the paired loads and print the medians and their ratio (or ``--check``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="compare with the reference SQL")
    args = parser.parse_args()
    runs, metrics = demo_rows(args.rows)
    bodies = chunks(runs, args.chunk), chunks(metrics, args.chunk * 4)
    if args.check:
        sys.exit(0 if check(bodies) else 1)
    plain = dataclasses.replace(BENCHMARK, after_write=None)
    timings = {"judged": [], "plain": []}
    for _ in range(args.repeat):
        for label, component in (("judged", BENCHMARK), ("plain", plain)):
            with tempfile.TemporaryDirectory() as folder:
                timings[label].append(load(component, Path(folder), *bodies))
    judged, bare = (statistics.median(timings[k]) for k in ("judged", "plain"))
    print(f"{len(runs)} runs + {len(metrics)} metric rows, bulk, median of {args.repeat}:")
    print(f"  without judging {bare:.2f} s, with judging {judged:.2f} s, ratio {judged / bare:.2f}")


if __name__ == "__main__":
    main()
