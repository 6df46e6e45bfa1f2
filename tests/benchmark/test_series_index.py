"""The index on the runs' series key: built when the database opens, after the migrations and
outside their transaction, and history answering alike with it (an index scan) and without it
(a scan, as on DuckLake or before the index is built)."""

import duckdb

from tests.core.test_migrations import app_for, close
from unified_api_server.components.benchmark import history
from unified_api_server.components.benchmark.series import SERIES_INDEX, SERIES_INDEX_NAME
from unified_api_server.core.data.database import Database, load_migrations
from unified_api_server.core.data.ddl import for_ducklake
from unified_api_server.registry import BY_NAME

BENCHMARK = BY_NAME["benchmark"]
BASE = "/api/benchmark/db"
PARTS = {"model_name": "m", "hardware": "cpu", "batch_size": 1}


def _indexes(path):
    with duckdb.connect(str(path), read_only=True) as connection:
        found = connection.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'benchmark_runs'"
        )
        return {name for (name,) in found.fetchall()}


def _store(client):
    """Two configurations of one model, a gap in a figure, named metrics and a mark."""
    ids = []
    for i in range(40):
        run = {
            **PARTS,
            "precision": "fp16" if i % 2 else "fp32",
            "status": "completed",
            "started_at": f"2026-01-01T00:{i:02d}:00Z",
            "latency_ms_mean": None if i == 12 else 100.0 + (i * 7) % 11 + (60.0 if i == 30 else 0),
            "metrics": [{"name": "tokens_per_s", "value": 50.0 + i % 5, "lower_is_better": False}],
        }
        answer = client.post(f"{BASE}/runs", json=run)
        assert answer.status_code == 201, answer.get_json()
        ids.append(answer.get_json()["run_id"])
    marked = client.post(f"{BASE}/run/{ids[20]}/distribution-change", json={})
    assert marked.status_code in (200, 201), marked.get_json()


def _answers(client):
    asked = [
        ("history", {**PARTS, "precision": "fp32", "metric": "latency_ms_mean", "window": 5}),
        (
            "history",
            {
                **PARTS,
                "precision": "fp16",
                "metric": "latency_ms_mean",
                "points": 6,
                "since": "2026-01-01T00:05:00Z",
                "until": "2026-01-01T00:35:00Z",
                "include": "verdicts",
            },
        ),
        ("history", {**PARTS, "precision": "fp16", "metric": "tokens_per_s", "window": 3}),
        ("histories", {"model_name": "m", "metric": "latency_ms_mean", "points": 8}),
        (
            "histories",
            {"model_name": "m", "metric": "tokens_per_s", "until": "2026-01-01T00:30:00Z"},
        ),
    ]
    answers = []
    for route, args in asked:
        answer = client.get(f"{BASE}/{route}", query_string=args)
        assert answer.status_code == 200, answer.get_json()
        answers.append(answer.get_json())
    return answers


def test_history_reads_the_same_points_by_the_index_and_without_it(tmp_path):
    path = tmp_path / "benchmark.duckdb"
    client = app_for(BENCHMARK, path)
    try:
        _store(client)
        database = client.application.extensions["component"].database
        cursor = database.cursor()
        assert history.indexed(cursor)
        by_index = _answers(client)
        assert by_index[0]["count"] == 19 and len(by_index[3]["series"]) == 2  # 12: no figure
        cursor.execute(f"DROP INDEX {SERIES_INDEX_NAME}")
        assert not history.indexed(cursor)
        assert _answers(client) == by_index
        cursor.close()
    finally:
        close(client)
    client = app_for(BENCHMARK, path)  # opened again: built again
    try:
        cursor = client.application.extensions["component"].database.cursor()
        assert history.indexed(cursor)
        cursor.close()
        assert _answers(client) == by_index
    finally:
        close(client)


def test_the_index_is_built_after_a_migration_keying_stored_runs(tmp_path):
    """Migration 006 keys the runs already stored: DuckDB builds no index over rows updated in
    the same transaction, so the index comes after it, in a transaction of its own."""
    path = str(tmp_path / "benchmark.duckdb")
    migrations = load_migrations(BENCHMARK.migrations_package)
    before = [m for m in migrations if m[0] < 6]
    # The release before: opening builds nothing it cannot (no series_key yet), quietly.
    database = Database(path, before, indexes=BENCHMARK.indexes)
    database.ping()
    cursor = database.cursor()
    cursor.execute(
        "INSERT INTO benchmark_runs (run_id, model_name, hardware, batch_size, precision, "
        "started_at, latency_ms_mean) SELECT 'r' || i, 'm', 'cpu', 1, 'fp32', "
        "TIMESTAMPTZ '2026-01-01' + to_minutes(i), 10.0 + i FROM range(3000) t(i)"
    )
    cursor.close()
    database.close()
    assert SERIES_INDEX_NAME not in _indexes(path)
    client = app_for(BENCHMARK, path)  # 006 and later applied, then the index built
    try:
        answer = client.get(
            f"{BASE}/history",
            query_string={**PARTS, "precision": "fp32", "metric": "latency_ms_mean"},
        )
        assert answer.status_code == 200 and answer.get_json()["count"] == 3000
    finally:
        close(client)
    assert SERIES_INDEX_NAME in _indexes(path)


def test_ducklake_builds_no_index():
    """DuckLake has no indexes: the statement translates to nothing, and is skipped."""
    assert BENCHMARK.indexes == (SERIES_INDEX,)
    assert for_ducklake(SERIES_INDEX).strip() == ""
