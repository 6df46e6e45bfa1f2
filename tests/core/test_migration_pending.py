"""With auto_migrate off and a migration pending, what needs its tables answers a clear 503
naming the migration and how to apply it; what does not goes on working.

The Benchmark's database is made at its first migration (a package holding only that, and a
run stored by SQL as the release of that schema would have), then the real Benchmark opens it
with the rest pending."""

import dataclasses
import os

import duckdb
import pytest

from tests.core.test_migrations import app_for, close
from tests.support import REPO
from unified_api_server.registry import BY_NAME

BENCHMARK = BY_NAME["benchmark"]
BASE = "/api/benchmark/db"
FIRST = os.path.join(REPO, "unified_api_server", "components", "benchmark", "migrations")
ANALYSIS_TABLES = ("benchmark_verdicts", "benchmark_thresholds", "benchmark_distribution_changes")
RUN = {"model_name": "m", "hardware": "cpu", "latency_ms_mean": 10.0}


@pytest.fixture
def pending(tmp_path, monkeypatch):
    """Return the Benchmark (auto_migrate off) on a database holding one run at migration 1."""
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = tmp_path / "benchmark_first" / "migrations"
    folder.mkdir(parents=True)
    (tmp_path / "benchmark_first" / "__init__.py").write_text("")
    with open(os.path.join(FIRST, "001_initial.sql"), encoding="utf-8") as handle:
        (folder / "001_initial.sql").write_text(handle.read())
    first = dataclasses.replace(BENCHMARK, migrations_package="benchmark_first")
    path = tmp_path / "benchmark.duckdb"
    close(app_for(first, path))
    with duckdb.connect(str(path)) as connection:  # a run stored by the release before
        connection.execute(
            "INSERT INTO benchmark_runs (run_id, model_name, hardware, latency_ms_mean) "
            "VALUES ('old', 'm', 'cpu', 10.0)"
        )
    client = app_for(BENCHMARK, path, auto_migrate=False)
    yield client
    close(client)


def _refused(answer, migration):
    assert answer.status_code == 503, answer.get_json()
    error = answer.get_json()["error"]
    assert (error["code"], error["details"]["migration"]) == ("migration_pending", migration)
    assert "unified-api-server migrate" in error["message"]
    assert f"POST {BASE}/migrations/apply" in error["message"]
    return error


def test_an_ingest_needing_a_pending_table_is_a_503_naming_the_migration(pending):
    error = _refused(pending.post(f"{BASE}/runs", json=RUN), "002_analysis")
    assert error["details"]["table"] in ANALYSIS_TABLES
    assert "002_analysis" in error["details"]["pending"]
    rows = b'{"model_name": "m", "hardware": "cpu", "latency_ms_mean": 1.0}\n'
    bulk = pending.post(
        f"{BASE}/runs/bulk", data=rows, headers={"Content-Type": "application/x-ndjson"}
    )
    _refused(bulk, "002_analysis")
    _refused(pending.get(f"{BASE}/runs", query_string={"regression": "true"}), "002_analysis")
    _refused(pending.get(f"{BASE}/run/old"), "003_samples")
    _refused(pending.get(f"{BASE}/alerts"), "004_alerts")
    job = {"models": ["bert-base-uncased"], "hardware": ["cpu"], "batch_sizes": [1]}
    _refused(pending.post("/api/benchmark/run", json=job), "002_analysis")  # its runs' ingest


def test_reads_that_need_no_pending_table_go_on_and_applying_ends_the_refusals(pending):
    listed = pending.get(f"{BASE}/runs")
    assert listed.status_code == 200
    assert [r["run_id"] for r in listed.get_json()["runs"]] == ["old"]
    assert pending.get(f"{BASE}/models/stats").status_code == 200
    after_first = [name for name in os.listdir(FIRST) if name.endswith(".sql")][1:]
    assert pending.get(f"{BASE}/migrations").get_json()["pending"] == len(after_first)
    history = {"model_name": "m", "hardware": "cpu", "batch_size": 1, "precision": "fp32"}
    answer = pending.get(f"{BASE}/history", query_string={**history, "metric": "latency_ms_mean"})
    assert answer.status_code == 200 and answer.get_json()["count"] == 1
    assert pending.post(f"{BASE}/migrations/apply").status_code == 200
    assert pending.post(f"{BASE}/runs", json=RUN).status_code == 201
    assert pending.get(f"{BASE}/run/old").status_code == 200
