"""What only the Test Suite's database API does: results, device lists, its statistics."""

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


@pytest.mark.parametrize(
    "query, expected",
    [
        ("test_type=comprehensive", {"r2", "r3"}),
        ("hardware=cuda", {"r2"}),  # a run on several devices matches any of them
        ("hardware=cuda&hardware=rocm", {"r2", "r3"}),
        ("test_type=comprehensive&hardware=rocm", {"r3"}),
        ("until=2026-01-02T00:00:00%2B00:00", {"r1"}),  # an offset in the query string
    ],
)
def test_test_suite_filters(client, make_run, query, expected):
    """Filters only the Test Suite has (test type, device lists); the rest is the contract's."""
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


def test_patch_sets_results_and_derives_the_duration(client, make_run):
    """A run's results are patched as a group; its duration comes from its start and end."""
    run = make_run(status="running", started_at="2026-01-01T00:00:00Z")
    url = f"/api/test/db/run/{run['run_id']}"
    changes = {
        "status": "completed",
        "results": {"tests_passed": 4},
        "completed_at": "2026-01-01T00:00:10Z",
    }
    done = client.patch(url, json=changes).json
    assert done["duration"] == 10.0 and done["progress"] == 1.0
    assert done["results"] == {
        "tests_passed": 4,
        "tests_failed": None,
        "tests_skipped": None,
        "tests_errors": None,
    }
    assert client.patch(url, json={"results": {"tests_passed": -1}}).status_code == 400
