"""Measure chart requests through the gateway, beside the component reads each one draws on.

    python scripts/bench_charts.py [--runs 100000] [--test-runs 3000] [--repeat 7]

Fills a Benchmark database with ``--runs`` runs in SQL (one model of 8 configurations holds
a tenth of them, the rest spread over 96 other models; latency with steps and spikes, so there
are regressions to mark) and judges them with the very statement a bulk load runs
(``analysis.judge_sql``); fills a Test Suite database with ``--test-runs`` runs of 100 tests
(``bench_test_analysis.fill``). Starts the real components (gunicorn) on those files and a
gateway (one gevent worker, in-process cache), then times, one request at a time on a
kept-alive connection, the five below in turn, median of ``--repeat``:

- ``miss``: the chart computed (each request with another ``width``, so none is cached; the
  data is read and the figure built every time);
- ``hit``: the same request again, answered from the cache;
- ``svg`` / ``png``: the image computed (a miss, drawn by matplotlib);
- ``reads``: the component reads the chart makes, asked of the component directly, one after
  another (the chart makes them concurrently where there are several);
- ``cpu``: the CPU time the gateway and the components used for a miss, an SVG and a PNG
  (mean, ms): what the request costs whatever else the machine is doing.

Target: a chart request at most 150 ms.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_test_analysis import fill as fill_tests

from tests.support import NAMES, ServiceProcess
from unified_api_server.components.benchmark.analysis import judge_sql
from unified_api_server.components.benchmark.series import HEADLINE, series_key_sql
from unified_api_server.core.data.database import Database, load_migrations
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.registry import BY_NAME

MODEL = "chart-model"
START = "TIMESTAMPTZ '2026-01-01 00:00:00+00'"
ONE = {"model_name": MODEL, "hardware": "cuda:0", "precision": "fp16", "batch_size": 8}


def fill_benchmark(path, runs, batch):
    """Create the Benchmark's tables and fill them; judge every run; plant two batches."""
    database = Database(str(path), load_migrations(BY_NAME["benchmark"].migrations_package))
    database.ping()
    database.close()
    with duckdb.connect(str(path)) as connection:
        # Run i: configuration (i // 10) % 8 (device, precision, batch size); every tenth run is
        # MODEL's, so it has 8 configurations of runs / 80 points each.
        connection.execute(
            f"""INSERT INTO benchmark_runs (run_id, model_name, hardware, precision, batch_size,
                status, started_at, latency_ms_mean, throughput, memory_mb)
            SELECT printf('run-%08d', i),
                CASE WHEN i % 10 = 0 THEN '{MODEL}' ELSE 'model-' || (i % 96) END,
                ['cpu', 'cuda:0'][1 + (i // 10) % 2], ['fp32', 'fp16'][1 + (i // 20) % 2],
                [1, 8][1 + (i // 40) % 2], 'completed', {START} + to_seconds(i * 30),
                (20 + i % 8) * (1 + (hash(i) % 100) / 1000.0)
                    * CASE WHEN i % 50000 > 40000 THEN 1.3 ELSE 1 END
                    * CASE WHEN hash(i) % 997 = 0 THEN 3 ELSE 1 END,
                1000.0 / (20 + i % 8), 500 + i % 8
            FROM range(?) r(i)""",
            [runs],
        )
        connection.execute(f"UPDATE benchmark_runs SET series_key = {series_key_sql()}")
        ids = "SELECT run_id FROM benchmark_runs"
        connection.execute(judge_sql(ids, list(HEADLINE), False, False), [])
        connection.execute(
            "INSERT INTO benchmark_batch_runs (batch_id) VALUES ('chart-before'), ('chart-after')"
        )
        # The two batches: the MODEL's runs before the last 8 * batch, then the last 8 * batch.
        for name, offset in (("chart-before", 2 * batch), ("chart-after", batch)):
            connection.execute(
                """UPDATE benchmark_runs SET batch_id = ? WHERE run_id IN (
                    SELECT run_id FROM benchmark_runs WHERE model_name = ?
                    ORDER BY started_at DESC LIMIT ? OFFSET ?)""",
                [name, MODEL, batch, offset - batch],
            )
        connection.execute("CHECKPOINT")


def cases():
    """Return ``(label, chart, args, [(component, route, args), ...])``: each chart and the
    component reads it makes."""
    fields = "run_id,started_at,value,outlier"  # what a history chart asks for
    series = {**ONE, "metric": "latency_ms_mean", "points": 500, "include": "verdicts",
              "fields": fields}  # fmt: skip
    configurations = [
        {**ONE, "hardware": hardware, "precision": precision, "batch_size": size}
        for hardware in ("cpu", "cuda:0")
        for precision in ("fp32", "fp16")
        for size in (1, 8)
    ]
    every = [{**series, **c} for c in configurations]
    # Before: a statistics read and one history read per configuration; now one read of all.
    stats = ("benchmark", "stats", {"model_name": MODEL})
    history = [("benchmark", "history", s) for s in every]
    histories = {"model_name": MODEL, "metric": "latency_ms_mean", "points": 500,
                 "include": "verdicts", "fields": fields, "series": 12}  # fmt: skip
    return [
        ("benchmark-history, one configuration", "benchmark-history", ONE,
         [("benchmark", "history", series)]),
        ("benchmark-history, 8 configurations", "benchmark-history", {"model_name": MODEL},
         [("benchmark", "histories", histories)]),
        ("(before: stats + 8 history reads)", None, {"model_name": MODEL}, [stats, *history]),
        ("test-pass-rate, per run", "test-pass-rate", {"model_name": "model-1"},
         [("test", "history", {"model_name": "model-1", "limit": 1000})]),
        ("test-pass-rate, per day", "test-pass-rate", {"model_name": "model-1", "bucket": "day"},
         [("test", "history", {"model_name": "model-1", "limit": 1000, "bucket": "day"})]),
        ("compare two batches", "compare", {"baseline": "chart-before", "contender": "chart-after"},
         [("benchmark", "compare", {"baseline": "chart-before", "contender": "chart-after"})]),
        ("compare cpu vs cuda:0", "compare", {"model_name": MODEL, "hardware": "cpu,cuda:0"},
         [("benchmark", "compare", {"model_name": MODEL, "hardware": "cpu,cuda:0"})]),
        ("benchmark-latest", "benchmark-latest", {"model_name": MODEL},
         [("benchmark", "verdicts", {"model_name": MODEL})]),
    ]  # fmt: skip


def timed(session, url, params, expect_cache=None):
    """GET ``url``; fail loudly on an error (or an answer the cache did not give as expected)."""
    response = session.get(url, params=params)
    if response.status_code != 200:
        raise SystemExit(f"{url} {params}: {response.status_code} {response.text[:500]}")
    if expect_cache and response.headers.get("X-Cache") != expect_cache:
        raise SystemExit(f"{url}: X-Cache {response.headers.get('X-Cache')}, not {expect_cache}")
    return response


def measure(session, gateway, components, repeat):
    """Print one row per chart."""
    services = [gateway, *components.values()]
    print(f"{'chart':<38} {'miss':>7} {'hit':>6} {'svg':>7} {'png':>7} {'reads':>7}"
          f"  {'cpu: miss':>9} {'svg':>5} {'png':>5}  ok")  # fmt: skip
    widths = iter(range(300, 3000))
    for label, chart, args, reads in cases():
        if chart is None:  # the component reads alone, as the chart made them before
            wall, cpu = measure_reads(session, reads, components, repeat, services)
            print(f"{label:<38} {'':>31} {wall:7.1f}  {cpu:9.0f}")
            continue
        url = f"{gateway.url}/api/db/charts/{chart}"
        row, cpu, points = measure_chart(
            session, url, args, reads, components, widths, repeat, services
        )
        ok = "ok" if max(row[0], *row[2:4]) <= 150 else "MISSED"
        walls = " ".join(f"{value:7.1f}" for value in row)
        cpus = f"{cpu[0]:9.0f} {cpu[2]:5.0f} {cpu[3]:5.0f}"
        print(f"{label:<38} {walls}  {cpus}  {ok}  ({points} points)")


def cpu_seconds(services):
    """Return the CPU seconds the services' processes (masters and workers) have used."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for service in services:
        for pid in (service.process.pid, *service.child_pids()):
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _reads(session, reads, components):
    for component, route, args in reads:
        timed(session, f"{components[component].url}/api/{component}/db/{route}", args)


def measure_reads(session, reads, components, repeat, services):
    """Return ``(median ms, mean CPU ms)`` of the component ``reads``, one after another."""
    times, cpu = [], 0.0
    for round_ in range(repeat + 1):
        used, started = cpu_seconds(services), time.perf_counter()
        _reads(session, reads, components)
        if round_:
            times.append(time.perf_counter() - started)
            cpu += cpu_seconds(services) - used
    return statistics.median(times) * 1000, cpu / repeat * 1000


def measure_chart(session, url, args, reads, components, widths, repeat, services):
    """Return ``([miss, hit, svg, png, reads] median ms, the same as mean CPU ms of every
    service, points drawn)`` of one chart: the five taken in turn, ``repeat`` times after a
    warm-up, so that each median saw the same load."""
    points = timed(session, url, args).json()["points"]
    calls = [
        lambda: timed(session, url, {**args, "width": next(widths)}),
        lambda: timed(session, url, args, "hit"),
        lambda: timed(session, url, {**args, "format": "svg", "width": next(widths)}),
        lambda: timed(session, url, {**args, "format": "png", "width": next(widths)}),
        lambda: _reads(session, reads, components),
    ]
    times = [[] for _ in calls]
    cpu = [0.0 for _ in calls]
    for round_ in range(repeat + 1):
        for index, call in enumerate(calls):
            used, started = cpu_seconds(services), time.perf_counter()
            call()
            if round_:  # the first round warms up
                times[index].append(time.perf_counter() - started)
                cpu[index] += cpu_seconds(services) - used
    walls = [statistics.median(taken) * 1000 for taken in times]
    return walls, [seconds / repeat * 1000 for seconds in cpu], points


def main():
    """Fill, serve and measure; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--test-runs", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100, help="runs per compared batch")
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-charts-"))
    started = []
    try:
        fill_benchmark(folder / "benchmark.duckdb", options.runs, options.batch)
        fill_tests(folder / "test.duckdb", options.test_runs, 100)
        components = {}
        for name in NAMES:
            components[name] = ServiceProcess.component(name, folder)
            started.append(components[name])
        for service in components.values():
            service.wait_ready()
        keys_db = folder / "keys.sqlite3"
        key = KeyStore(keys_db).create("bench", "read")
        urls = {name: service.url for name, service in components.items()}
        gateway = ServiceProcess.gateway(urls, keys_db, folder / "gateway.log", workers=1)
        started.append(gateway)
        gateway.wait_ready()
        session = requests.Session()
        session.headers["X-API-Key"] = key
        _wait_for_the_cache(session, gateway)
        print(f"{options.runs:,} benchmark runs, {options.test_runs:,} test runs x 100 tests; "
              f"median of {options.repeat}, ms")  # fmt: skip
        measure(session, gateway, components, options.repeat)
    except (requests.RequestException, SystemExit):
        print(started[-1].log_tail(), file=sys.stderr)  # the gateway's last words
        raise
    finally:
        for service in started:
            service.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_the_cache(session, gateway, timeout=30):
    """Wait until the gateway hears every change stream (its cache is in use only then)."""
    url = f"{gateway.url}/api/db/charts/benchmark-latest"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if session.get(url, params={"model_name": MODEL}).headers.get("X-Cache") == "hit":
            return
        time.sleep(0.2)
    raise SystemExit("the gateway's cache never answered")


if __name__ == "__main__":
    main()
