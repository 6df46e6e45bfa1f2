"""The Test Suite database API: runs, children, filters, stats, search, export, deletes."""

import io
import json

import pyarrow.parquet as pq
import pytest

from tests.stats_support import quantile


def test_created_run_comes_back_with_steps_metrics_tags_and_results(client, make_run):
    run = make_run(
        status="completed",
        test_type="comprehensive",
        duration=2.5,
        results={"tests_passed": 3, "tests_failed": 1, "tests_skipped": 2},
        steps=[
            {"name": "load", "status": "passed", "duration": 0.5},
            {"name": "infer", "status": "failed", "message": "shape mismatch"},
        ],
        metrics={"latency_ms": {"value": 12.5, "unit": "ms"}, "accuracy": 0.91},
        tags={"suite": "nightly", "commit": 1234},
    )
    stored = client.get(f"/api/test/db/run/{run['run_id']}").json
    assert stored["results"] == {
        "tests_passed": 3,
        "tests_failed": 1,
        "tests_skipped": 2,
        "tests_errors": None,
    }
    assert [s["name"] for s in stored["steps"]] == ["load", "infer"]
    assert stored["steps"][1]["message"] == "shape mismatch"
    assert stored["metrics"] == {
        "latency_ms": {"value": 12.5, "unit": "ms"},
        "accuracy": {"value": 0.91, "unit": None},
    }
    assert stored["tags"] == {"suite": "nightly", "commit": "1234"}
    assert stored["test_type"] == "comprehensive"
    assert stored["started_at"].endswith("+00:00")


def test_child_rows_get_real_keys_from_sequences(app, client, make_run):
    """ORIGIN defect 10: steps, metrics and tags inserts failed silently (no auto-increment)."""
    run = make_run(steps=[{"name": "a", "status": "passed"}])
    client.post(
        f"/api/test/db/run/{run['run_id']}/steps",
        json=[{"name": "b", "status": "passed"}, {"name": "c", "status": "skipped"}],
    )
    client.post(f"/api/test/db/run/{run['run_id']}/metrics", json={"rss_mb": {"value": 10}})
    client.post(f"/api/test/db/run/{run['run_id']}/tags", json={"owner": "ml"})
    cursor = app.extensions["component"].database.cursor()
    ids = [r[0] for r in cursor.execute("SELECT id FROM test_run_steps ORDER BY id").fetchall()]
    assert ids == [1, 2, 3]
    assert cursor.execute("SELECT count(*) FROM test_run_metrics").fetchone()[0] == 1
    assert cursor.execute("SELECT count(*) FROM test_run_tags").fetchone()[0] == 1


def test_reads_return_stored_rows_and_deletes_find_them(client, make_run):
    """ORIGIN defect 11: every read returned empty or 404 and every delete 404."""
    run = make_run()
    assert client.get("/api/test/db/runs").json["count"] == 1
    assert client.delete(f"/api/test/db/run/{run['run_id']}").status_code == 200
    assert client.get(f"/api/test/db/run/{run['run_id']}").status_code == 404
    assert client.delete(f"/api/test/db/run/{run['run_id']}").status_code == 404


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=failed", {"r2"}),
        ("model_name=gpt2", {"r3"}),
        ("test_type=comprehensive", {"r2", "r3"}),
        ("hardware=cuda", {"r2"}),
        ("hardware=cuda&hardware=rocm", {"r2", "r3"}),
        ("tag=suite", {"r1", "r2"}),
        ("tag=suite:nightly", {"r1"}),
        ("since=2026-01-02T00:00:00Z", {"r2", "r3"}),
        ("until=2026-01-02T00:00:00%2B00:00", {"r1"}),
        ("batch_id=b1", {"r3"}),
        ("status=completed&model_name=bert-base-uncased", {"r1"}),
    ],
)
def test_list_filters(client, make_run, query, expected):
    client.post("/api/test/db/batches", json={"batch_id": "b1"})
    make_run(
        run_id="r1",
        status="completed",
        tags={"suite": "nightly"},
        started_at="2026-01-01T00:00:00Z",
    )
    make_run(
        run_id="r2",
        status="failed",
        hardware=["cpu", "cuda"],
        test_type="comprehensive",
        tags={"suite": "weekly"},
        started_at="2026-01-02T00:00:00Z",
    )
    make_run(
        run_id="r3",
        model_name="gpt2",
        hardware=["rocm"],
        test_type="comprehensive",
        batch_id="b1",
        started_at="2026-01-03T00:00:00Z",
    )
    runs = client.get(f"/api/test/db/runs?{query}").json["runs"]
    assert {r["run_id"] for r in runs} == expected


def test_pagination_walks_every_run_once_newest_first(client):
    rows = [
        {
            "run_id": f"run-{i:03d}",
            "model_name": "m",
            "hardware": ["cpu"],
            "started_at": f"2026-01-01T00:{i % 60:02d}:00Z",
        }
        for i in range(237)
    ]
    assert client.post("/api/test/db/runs/bulk", json=rows).status_code == 201
    seen, cursor, pages = [], None, 0
    while True:
        pages += 1
        assert pages < 20, "pagination does not end"
        url = "/api/test/db/runs?limit=50" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).json
        seen += page["runs"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert sorted(r["run_id"] for r in seen) == sorted(r["run_id"] for r in rows)
    keys = [(r["started_at"], r["run_id"]) for r in seen]
    assert keys == sorted(keys, reverse=True)


def test_model_stats_are_over_all_data_and_match_hand_computed_values(client):
    """ORIGIN defect 15: success rate over the 10 newest rows, totals capped at 10."""
    durations = [float(d) for d in range(1, 26)]
    statuses = ["completed"] * 15 + ["failed"] * 6 + ["cancelled"] * 2 + ["running"] * 2
    rows = [
        {"model_name": "bert", "hardware": ["cpu"], "status": s, "duration": d}
        for s, d in zip(statuses, durations)
    ]
    rows.append(
        {"model_name": "gpt2", "hardware": ["cpu"], "status": "completed", "duration": 100.0}
    )
    client.post("/api/test/db/runs/bulk", json=rows)
    stats = client.get("/api/test/db/models/stats").json
    bert = next(m for m in stats["models"] if m["model_name"] == "bert")
    assert bert["total_runs"] == 25
    assert (
        bert["completed_runs"],
        bert["failed_runs"],
        bert["cancelled_runs"],
        bert["running_runs"],
    ) == (15, 6, 2, 2)
    assert bert["success_rate"] == pytest.approx(15 / 23, abs=1e-6)
    assert bert["avg_duration"] == pytest.approx(sum(durations) / 25)
    assert (bert["min_duration"], bert["max_duration"]) == (1.0, 25.0)
    assert bert["p50_duration"] == pytest.approx(quantile(durations, 0.5))
    assert bert["p95_duration"] == pytest.approx(quantile(durations, 0.95))
    assert stats["summary"]["total_runs"] == 26
    only_gpt2 = client.get("/api/test/db/models/stats?model_name=gpt2").json
    assert [m["model_name"] for m in only_gpt2["models"]] == ["gpt2"]


def test_hardware_stats_count_each_device_of_a_multi_device_run(client, make_run):
    """ORIGIN defect 14: grouped by the JSON text of the hardware list, not per device."""
    make_run(hardware=["cpu", "cuda"], status="completed", duration=1.0)
    make_run(hardware=["cuda", "cpu"], status="failed", duration=3.0)
    make_run(hardware=["cpu"], status="completed", duration=2.0)
    rows = {r["hardware"]: r for r in client.get("/api/test/db/hardware/stats").json["hardware"]}
    assert set(rows) == {"cpu", "cuda"}
    assert rows["cpu"]["total_runs"] == 3 and rows["cuda"]["total_runs"] == 2
    assert rows["cuda"]["success_rate"] == 0.5
    assert rows["cpu"]["avg_duration"] == pytest.approx(2.0)


def test_performance_report_has_the_original_sections(client, make_run):
    make_run(status="completed", duration=4.0, metrics={"latency_ms": {"value": 10, "unit": "ms"}})
    make_run(status="failed", duration=2.0, metrics={"latency_ms": {"value": 20, "unit": "ms"}})
    make_run(status="completed", started_at="2020-01-01T00:00:00Z")  # outside the window
    report = client.get("/api/test/db/performance?days=7").json
    assert report["daily_stats"] == [
        {
            "day": report["daily_stats"][0]["day"],
            "total_runs": 2,
            "completed_runs": 1,
            "failed_runs": 1,
            "avg_duration": 3.0,
        }
    ]
    assert report["model_stats"][0]["total_runs"] == 2
    assert report["hardware_stats"][0]["hardware"] == "cpu"
    assert len(report["latest_runs"]) == 2
    assert report["metrics"] == [
        {"name": "latency_ms", "unit": "ms", "count": 2, "mean": 15.0, "min": 10.0, "max": 20.0}
    ]
    assert client.get("/api/test/db/performance?days=0").status_code == 400


def test_search_ranks_exact_matches_above_partial_ones(client, make_run):
    make_run(run_id="partial", model_name="bert-base-uncased")
    make_run(run_id="exact", model_name="bert")
    make_run(run_id="tagged", model_name="gpt2", tags={"family": "bert"})
    make_run(run_id="other", model_name="t5")
    body = client.post("/api/test/db/search", json={"query": "BERT"}).json
    assert [r["run_id"] for r in body["results"]][:3] == ["exact", "tagged", "partial"]
    assert "other" not in {r["run_id"] for r in body["results"]}
    hardware = client.post("/api/test/db/search?query=cpu&limit=2").json
    assert hardware["count"] == 2


def test_search_input_is_never_sql(client, make_run):
    make_run(model_name="bert")
    for query in ["' OR 1=1 --", "%", "_", "bert'; DROP TABLE test_runs; --"]:
        response = client.post("/api/test/db/search", json={"query": query})
        assert response.status_code == 200
        assert response.json["count"] == 0
    assert client.get("/api/test/db/runs").json["count"] == 1


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "parquet"])
def test_export_streams_each_format_and_reads_back(client, make_run, fmt):
    for i in range(3):
        make_run(run_id=f"r{i}", status="completed", duration=float(i))
    response = client.post("/api/test/db/export", json={"format": fmt})
    assert response.status_code == 200
    assert response.is_streamed
    data = response.get_data()
    if fmt == "json":
        rows = json.loads(data)
    elif fmt == "ndjson":
        rows = [json.loads(line) for line in data.splitlines()]
    elif fmt == "csv":
        import pyarrow.csv as pa_csv

        rows = pa_csv.read_csv(io.BytesIO(data)).to_pylist()
    else:
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
    assert sorted(r["run_id"] for r in rows) == ["r0", "r1", "r2"]
    assert {float(r["duration"]) for r in rows} == {0.0, 1.0, 2.0}


def test_export_of_a_child_table_follows_the_run_filters(client, make_run):
    make_run(model_name="a", steps=[{"name": "s1", "status": "passed"}])
    make_run(model_name="b", steps=[{"name": "s2", "status": "passed"}])
    data = client.post(
        "/api/test/db/export?model_name=b", json={"format": "ndjson", "table": "steps"}
    ).get_data()
    assert [json.loads(line)["name"] for line in data.splitlines()] == ["s2"]


def test_export_never_writes_to_a_client_path(client, make_run, tmp_path):
    """ORIGIN defect 16: export wrote a file to any server-side path the client named."""
    make_run()
    target = tmp_path / "stolen.json"
    response = client.post("/api/test/db/export", json={"format": "json", "path": str(target)})
    assert response.status_code == 400
    assert "never written" in response.json["error"]["message"]
    assert not target.exists()


def test_deleting_a_batch_detaches_its_runs_by_default(client, make_run):
    client.post("/api/test/db/batches", json={"batch_id": "keep", "name": "nightly"})
    client.post("/api/test/db/batches", json={"batch_id": "drop"})
    make_run(run_id="k1", batch_id="keep", steps=[{"name": "s", "status": "passed"}])
    make_run(run_id="d1", batch_id="drop", steps=[{"name": "s", "status": "passed"}])
    batch = client.get("/api/test/db/batch/keep").json
    assert batch["total_runs"] == 1 and batch["runs"][0]["run_id"] == "k1"
    assert client.delete("/api/test/db/batch/keep").json["detached_runs"] == 1
    assert client.get("/api/test/db/run/k1").json["batch_id"] is None
    assert client.delete("/api/test/db/batch/drop?delete_runs=true").json["deleted_runs"] == 1
    assert client.get("/api/test/db/run/d1").status_code == 404
    assert client.get("/api/test/db/batch/drop").status_code == 404
    assert client.delete("/api/test/db/batch/drop").status_code == 404
    assert client.delete("/api/test/db/batch/x?delete_runs=maybe").status_code == 400


def test_patch_moves_a_run_through_its_lifecycle(client, make_run):
    run = make_run(status="running", started_at="2026-01-01T00:00:00Z")
    url = f"/api/test/db/run/{run['run_id']}"
    patched = client.patch(url, json={"progress": 0.5, "current_step": "infer"}).json
    assert (patched["progress"], patched["current_step"]) == (0.5, "infer")
    done = client.patch(
        url,
        json={
            "status": "completed",
            "results": {"tests_passed": 4},
            "completed_at": "2026-01-01T00:00:10Z",
        },
    ).json
    assert done["duration"] == 10.0 and done["progress"] == 1.0
    assert done["results"]["tests_passed"] == 4
    again = client.patch(url, json={"status": "running"})
    assert again.status_code == 409
    assert client.patch(url, json={"model_name": "x"}).status_code == 400
    assert client.patch(url, json={}).status_code == 400


def test_migrations_are_listed(client):
    migrations = client.get("/api/test/db/migrations").json["migrations"]
    assert [m["version"] for m in migrations] == [1]
    assert migrations[0]["name"] == "initial" and len(migrations[0]["checksum"]) == 64
