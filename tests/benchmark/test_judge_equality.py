"""The fast judging statement stores exactly the verdicts of the plain reference one
(``judge_reference.py``) for the same writes: back-filled runs with tied starts, missing figures,
NULL configuration parts, marks of every metric and of one, thresholds per selector (a window of
3, one of 50) and named metrics of each direction, loaded in pieces, then patched."""

import random
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from tests.benchmark.judge_reference import DIFFERENCES, reference_sql
from unified_api_server.components.benchmark import analysis
from unified_api_server.components.benchmark.analysis import SELECTOR
from unified_api_server.components.benchmark.series import HEADLINE
from unified_api_server.core.data.written import Written, ids_written
from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME

START = datetime(2026, 1, 1, tzinfo=UTC)
RUN_COLUMNS = ("run_id", "model_name", "hardware", "batch_size", "precision", "started_at")
THRESHOLDS = [  # (model, hardware, batch size, precision, metric, percent, z, window, min points)
    ("m0", None, None, None, None, 10.0, 3.0, 3, 2),
    (None, None, None, None, "latency_ms_mean", 5.0, 2.0, 20, 5),
    ("m1", "cuda", None, None, "throughput", 10.0, 1.5, 50, 3),
    ("m2", None, None, None, "energy_j", 2.0, 1.0, 8, 4),
]


def runs_and_metrics(count=900):
    """Return ``count`` runs of 12 configurations (started at random, often tied; a step up
    half way through some) and named metrics for most of them, reproducibly."""
    rng = random.Random(12)
    configs = [
        (f"m{i % 4}", ("cpu", "cuda")[i % 2], (1, 8, None)[i % 3], ("fp32", None)[i % 5 == 0])
        for i in range(12)
    ]
    runs, metrics = [], []
    for i in range(count):
        config = rng.choice(configs)
        minute = rng.randrange(400)
        step = 2.0 if config[0] in ("m1", "m3") and minute > 200 else 1.0
        figures = {
            name: None if rng.random() < 0.1 else round(step * base * rng.gauss(1, 0.03), 3)
            for name, base in (("latency_ms_mean", 10.0), ("latency_ms_p99", 30.0))
        }
        figures["throughput"] = round(100.0 / step * rng.gauss(1, 0.02), 2)
        figures["memory_mb"] = 512.0  # a perfectly steady series: no spread, no z
        run_id = f"r{rng.randrange(10**6):06d}-{i}"
        runs.append((run_id, *config, START + timedelta(minutes=minute), figures))
        for name, low, value in (
            ("energy_j", True, step * rng.gauss(3, 0.1)),
            ("accuracy", False, 0.9),
            ("notes", None, rng.random()),
        ):
            if rng.random() < 0.8:
                metrics.append((run_id, name, value, low))
    return runs, metrics


def _insert(cur, table, names, types, rows):
    """Insert ``rows`` into ``table`` by SQL in one statement, as a bulk load stores them."""
    columns = [list(column) for column in zip(*rows)]
    select = ", ".join(f"unnest(?::{kind}[])" for kind in types)
    cur.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {select}", columns)


def insert_runs(cur, runs):
    """Insert ``runs``; return what a load of them tells the hook."""
    rows = [(*run[:6], *(run[6].get(name) for name in HEADLINE)) for run in runs]
    kinds = ("VARCHAR",) * 3 + ("BIGINT", "VARCHAR", "TIMESTAMPTZ") + ("DOUBLE",) * len(HEADLINE)
    _insert(cur, "benchmark_runs", (*RUN_COLUMNS, *HEADLINE), kinds, rows)
    return ids_written(run[0] for run in runs)


def insert_metrics(cur, metrics):
    """Insert named ``metrics``; return what a metrics load tells the hook."""
    names = ("run_id", "name", "value", "lower_is_better")
    _insert(cur, "benchmark_metrics", names, ("VARCHAR", "VARCHAR", "DOUBLE", "BOOLEAN"), metrics)
    return Written("SELECT DISTINCT unnest(?::VARCHAR[])", ([m[0] for m in metrics],), "metrics")


def replay(database, build):
    """Store the same writes in ``database``, each judged by the statement ``build`` makes."""
    runs, metrics = runs_and_metrics()
    rng = random.Random(3)

    def write(cur, written):
        analysis.after_write(cur, written, build=build)

    def setup(cur):
        names = (*SELECTOR, "percent", "z", "window_size", "min_points")
        kinds = ("VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", *("DOUBLE",) * 4)
        _insert(cur, "benchmark_thresholds", names, kinds, THRESHOLDS)

    database.run_write(setup)
    for piece in (runs[:300], runs[300:600]):  # no run is marked yet
        database.run_write(lambda cur, piece=piece: write(cur, insert_runs(cur, piece)))
    marks = [(run[0], rng.choice((None, "latency_ms_mean", "energy_j"))) for run in runs[:600:40]]
    names, kinds = ("run_id", "metric"), ("VARCHAR", "VARCHAR")
    database.run_write(
        lambda cur: _insert(cur, "benchmark_distribution_changes", names, kinds, marks)
    )
    database.run_write(lambda cur: write(cur, insert_runs(cur, runs[600:])))
    split = sum(1 for m in metrics if m[0] in {r[0] for r in runs[:600]})
    for piece in (metrics[:split], metrics[split:]):
        database.run_write(lambda cur, piece=piece: write(cur, insert_metrics(cur, piece)))
    patched = [run[0] for run in runs[::30]]

    def patch(cur):
        cur.execute(
            "UPDATE benchmark_runs SET latency_ms_mean = latency_ms_mean * 3 "
            "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [patched],
        )
        write(cur, ids_written(patched, columns=("status", "latency_ms_mean")))

    database.run_write(patch)


@pytest.fixture
def databases(tmp_path):
    """Return two fresh Benchmark databases."""
    apps = [
        create_app(BY_NAME["benchmark"], {"db_path": str(tmp_path / f"{name}.duckdb")})
        for name in ("fast", "reference")
    ]
    yield [app.extensions["component"].database for app in apps]
    for app in apps:
        app.extensions["component"].database.close()


def test_the_fast_statement_stores_the_reference_verdicts(databases, tmp_path):
    fast, reference = databases
    replay(fast, analysis.judge_sql)
    replay(reference, reference_sql)
    fast.close()
    reference.close()
    with duckdb.connect() as both:  # both files, read together
        both.execute(f"ATTACH '{tmp_path / 'fast.duckdb'}' AS a (READ_ONLY)")
        both.execute(f"ATTACH '{tmp_path / 'reference.duckdb'}' AS b (READ_ONLY)")
        stored = dict(
            both.execute("SELECT verdict, count(*) FROM a.benchmark_verdicts GROUP BY 1").fetchall()
        )
        windows = {
            n
            for (n,) in both.execute(
                "SELECT DISTINCT window_n FROM a.benchmark_verdicts"
            ).fetchall()
        }
        (steady,) = both.execute(
            "SELECT count(*) FROM a.benchmark_verdicts WHERE z IS NULL AND window_n > 1"
        ).fetchone()
        (count,) = both.execute("SELECT count(*) FROM b.benchmark_verdicts").fetchone()
        different = both.execute(f"SELECT * FROM ({DIFFERENCES}) LIMIT 5").fetchall()
    assert set(stored) == {"regression", "improvement", "ok", "no_baseline"}, stored
    assert {0, 3, 20, 50} <= windows and max(windows) == 50, windows
    assert steady > 0
    assert sum(stored.values()) == count > 2000
    assert different == []
