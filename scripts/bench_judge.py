"""Measure what judging every stored run costs a bulk ingest: the same load with and without it.

    python scripts/bench_judge.py [--rows 100000] [--chunk 25000] [--repeat 3]

The Benchmark API is built in-process twice on fresh DuckDB files: as registered (each bulk
upload judges its runs against their series' history in the load's transaction) and with no
``after_write`` hook. Both get the same demo rows as NDJSON through the bulk endpoint, then the
runs' named metrics (``table=metrics``, judged when they arrive), alternating the two, so the
ratio is taken side by side on the same noisy machine; the medians are reported.
"""

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def main():
    """Run the paired loads and print the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs, metrics = demo_rows(args.rows)
    bodies = chunks(runs, args.chunk), chunks(metrics, args.chunk * 4)
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
