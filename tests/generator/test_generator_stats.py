"""Generator statistics against hand-computed values, and its particular columns."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.stats_support import quantile

BASE = "/api/generator/db"
DAY = datetime(2026, 3, 1, 12, tzinfo=UTC)
# (model, hardware, architecture, status, duration, day offset)
TASKS = [
    ("bert", ["cpu"], "encoder-only", "completed", 1.0, 0),
    ("bert", ["cpu", "cuda"], "encoder-only", "completed", 2.0, 0),
    ("bert", ["cuda"], "encoder-only", "failed", 4.0, 1),
    ("bert", ["cpu"], "encoder-only", "running", None, 1),
    ("gpt2", ["cpu", "cuda", "rocm"], "decoder-only", "completed", 10.0, 1),
    ("gpt2", ["rocm"], "decoder-only", "cancelled", 3.0, 2),
    ("whisper", ["cpu"], "speech", "completed", 7.5, 2),
]


@pytest.fixture
def seeded(client):
    """Store the tasks above (and one outside the time range of the filters)."""
    for model, hardware, architecture, status, duration, offset in TASKS:
        body = {
            "model_name": model,
            "hardware": hardware,
            "architecture": architecture,
            "status": status,
            "template_type": f"{model}-template",
            "started_at": (DAY + timedelta(days=offset)).isoformat(),
        }
        if duration is not None:
            body["duration"] = duration
        assert client.post(f"{BASE}/tasks", json=body).status_code == 201
    return client


def _expected(rows):
    durations = [r[4] for r in rows if r[4] is not None]
    finished = [r for r in rows if r[3] in ("completed", "failed", "cancelled", "timeout")]
    completed = sum(1 for r in rows if r[3] == "completed")
    return {
        "total_tasks": len(rows),
        "completed_tasks": completed,
        "failed_tasks": sum(1 for r in rows if r[3] == "failed"),
        "running_tasks": sum(1 for r in rows if r[3] in ("initializing", "running")),
        "success_rate": round(completed / len(finished), 6) if finished else None,
        "min_duration": min(durations) if durations else None,
        "max_duration": max(durations) if durations else None,
        "avg_duration": sum(durations) / len(durations) if durations else None,
        "p50_duration": quantile(durations, 0.5) if durations else None,
        "p95_duration": quantile(durations, 0.95) if durations else None,
    }


def _check(row, expected):
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key


def test_model_stats(seeded):
    """Per-model rows keep ORIGIN's names and match hand-computed values."""
    body = seeded.get(f"{BASE}/models/stats").get_json()
    rows = {r["model_name"]: r for r in body["models"]}
    assert list(rows) == ["bert", "gpt2", "whisper"]  # most tasks first
    for model, row in rows.items():
        _check(row, _expected([t for t in TASKS if t[0] == model]))
    _check(body["summary"], _expected(TASKS))


def test_filters_reach_the_statistics(seeded):
    """Architecture, hardware and time filters narrow the statistics."""
    body = seeded.get(f"{BASE}/models/stats?architecture=decoder-only").get_json()
    assert [r["model_name"] for r in body["models"]] == ["gpt2"]
    _check(body["summary"], _expected([t for t in TASKS if t[2] == "decoder-only"]))
    since = (DAY + timedelta(days=1)).isoformat()
    body = seeded.get(
        f"{BASE}/models/stats", query_string={"since": since, "hardware": "cuda"}
    ).get_json()
    _check(body["summary"], _expected([t for t in TASKS if t[5] >= 1 and "cuda" in t[1]]))
    tasks = seeded.get(f"{BASE}/tasks?template_type=gpt2-template").get_json()["tasks"]
    assert len(tasks) == 2
    assert seeded.get(f"{BASE}/tasks?architecture=quantum").status_code == 400


def test_performance_daily_trend(seeded):
    """Daily counts and mean duration, oldest day first."""
    days = seeded.get(f"{BASE}/performance?days=3650").get_json()["daily_stats"]
    assert [d["day"] for d in days] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    for offset, day in enumerate(days):
        rows = [t for t in TASKS if t[5] == offset]
        durations = [t[4] for t in rows if t[4] is not None]
        assert day["total_tasks"] == len(rows)
        assert day["completed_tasks"] == sum(1 for t in rows if t[3] == "completed")
        assert day["avg_duration"] == pytest.approx(sum(durations) / len(durations))


def test_output_file_is_set_on_completion(client):
    """A task's output file is set when it completes."""
    task = client.post(
        f"{BASE}/tasks",
        json={"model_name": "t5", "status": "running", "architecture": "encoder-decoder"},
    ).get_json()
    done = client.patch(
        f"{BASE}/task/{task['task_id']}",
        json={"status": "completed", "output_file": "skills/hf_t5.py"},
    ).get_json()
    assert done["output_file"] == "skills/hf_t5.py" and done["status"] == "completed"
