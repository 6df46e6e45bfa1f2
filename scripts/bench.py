"""Measure bulk ingest and grouped statistics through a component's API beside plain DuckDB.

    python scripts/bench.py [--rows 1000000] [--components test,generator,benchmark]

For each component: start the real service (gunicorn) on a fresh DuckDB file, POST the rows as
NDJSON to its bulk endpoint in chunks, then time its per-model statistics endpoint; do the same
work directly in DuckDB (read_json into the same schema, the same aggregate SQL) in one run, so
the ratio is taken side by side on the same noisy machine.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.datastructures import MultiDict

from tests.support import ServiceProcess
from unified_api_server.core.data.database import Database, load_migrations
from unified_api_server.core.data.stats import aggregates
from unified_api_server.core.web.query import Filters

MODELS = [f"model-{i:02d}" for i in range(40)]
DEVICES = ["cpu", "cuda", "rocm", "mps", "openvino"]
STATUSES = ["completed"] * 8 + ["failed", "cancelled"]


def test_rows(n, rng):
    """Return ``n`` flat test runs."""
    return [
        {
            "model_name": rng.choice(MODELS),
            "hardware": [rng.choice(DEVICES)],
            "test_type": rng.choice(["basic", "comprehensive"]),
            "status": rng.choice(STATUSES),
            "duration": round(rng.lognormvariate(1, 0.5), 4),
            "started_at": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T"
            f"{rng.randint(0, 23):02d}:00:00+00:00",
            "tests_passed": rng.randint(0, 50),
            "tests_failed": rng.randint(0, 3),
        }
        for _ in range(n)
    ]


def generator_rows(n, rng):
    """Return ``n`` flat generator tasks."""
    return [
        {
            "model_name": rng.choice(MODELS),
            "hardware": [rng.choice(DEVICES)],
            "template_type": rng.choice(["bert", "gpt2", "t5", "vit", "whisper"]),
            "architecture": rng.choice(["encoder-only", "decoder-only", "encoder-decoder"]),
            "status": rng.choice(STATUSES),
            "duration": round(rng.lognormvariate(0, 0.5), 4),
            "started_at": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T"
            f"{rng.randint(0, 23):02d}:00:00+00:00",
            "output_file": f"skills/hf_{rng.randint(0, 999)}.py",
        }
        for _ in range(n)
    ]


def benchmark_rows(n, rng):
    """Return ``n`` flat benchmark runs (one device, batch size, precision, headline figures)."""
    rows = []
    for _ in range(n):
        latency = rng.lognormvariate(2, 0.6)
        rows.append(
            {
                "model_name": rng.choice(MODELS),
                "hardware": rng.choice(DEVICES),
                "batch_size": rng.choice([1, 2, 4, 8, 16, 32]),
                "precision": rng.choice(["fp32", "fp16", "bf16", "int8"]),
                "status": rng.choice(STATUSES),
                "duration": round(rng.lognormvariate(1, 0.5), 4),
                "started_at": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:00:00+00:00",
                "parameters": {"sequence_length": rng.choice([128, 512])},
                "latency_ms_mean": round(latency, 4),
                "latency_ms_p50": round(latency * 0.95, 4),
                "latency_ms_p90": round(latency * 1.2, 4),
                "latency_ms_p99": round(latency * 1.6, 4),
                "throughput": round(1000 / latency, 3),
                "memory_mb": round(rng.uniform(200, 8000), 1),
            }
        )
    return rows


# Components add their row factory here (name -> (factory, collection path)).
FACTORIES = {
    "test": (test_rows, "runs"),
    "generator": (generator_rows, "tasks"),
    "benchmark": (benchmark_rows, "runs"),
}
# The statistics query timed per component: (route, grouping columns); models/stats by default.
STATS = {"benchmark": ("stats", ("model_name", "hardware", "batch_size", "precision"))}


def component(name):
    """Return the Component description of ``name``."""
    module = __import__(f"unified_api_server.components.{name}.component", fromlist=["COMPONENT"])
    return module.COMPONENT


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
    factory, collection = FACTORIES[name]
    comp = component(name)
    rng = random.Random(42)
    chunks = [
        b"\n".join(orjson.dumps(r) for r in factory(min(chunk, rows_total - i), rng))
        for i in range(0, rows_total, chunk)
    ]
    ndjson = folder / f"{name}.ndjson"
    ndjson.write_bytes(b"\n".join(chunks))

    service = ServiceProcess.component(name, folder).wait_healthy()
    try:
        url = f"{service.url}/api/{name}/db/{collection}/bulk"
        session = requests.Session()
        start = time.perf_counter()
        for body in chunks:
            response = session.post(
                url, data=body, headers={"Content-Type": "application/x-ndjson"}
            )
            response.raise_for_status()
        api_ingest = rows_total / (time.perf_counter() - start)
        route, keys = STATS.get(name, ("models/stats", ("model_name",)))
        stats_url = f"{service.url}/api/{name}/db/{route}"
        api_stats = median_seconds(lambda: session.get(stats_url).raise_for_status())
    finally:
        service.stop()

    direct_path = str(folder / f"{name}-direct.duckdb")
    Database(direct_path, load_migrations(comp.migrations_package)).connection.close()
    connection = duckdb.connect(direct_path)
    columns = ", ".join(sorted({k for r in factory(50, random.Random(1)) for k in r}))
    start = time.perf_counter()
    connection.execute(
        f"INSERT INTO {comp.table} ({comp.id_column}, {columns}) "
        f"SELECT uuidv7()::VARCHAR, {columns} FROM read_json(?, format='newline_delimited')",
        [str(ndjson)],
    )
    direct_ingest = rows_total / (time.perf_counter() - start)
    group = ", ".join(f"t.{key}" for key in keys)
    sql = (
        f"SELECT {group}, {aggregates(comp)} FROM {comp.table} t "
        f"{Filters(comp, MultiDict()).where} GROUP BY {group}"
    )
    direct_stats = median_seconds(lambda: connection.execute(sql).fetchall())
    connection.close()
    return {
        "component": name,
        "rows": rows_total,
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
    parser.add_argument("--components", default=",".join(FACTORIES))
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
