"""Known data for the dashboard's tests, stored through the real gateway, and a signed-in client."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests

from tests.gateway.conftest import client


@dataclass
class Planted:
    """What :func:`plant` stored: names and ids the pages must show."""

    model: str
    bench_runs: list = field(default_factory=list)
    bench_batches: tuple = ()
    test_runs: list = field(default_factory=list)
    test_batches: tuple = ()
    task_id: str = ""
    failing_test: str = "test_generate_matches"


def _iso(moment):
    return moment.isoformat()


def _post(api, path, body, status=201):
    response = api.call("POST", path, json=body)
    assert response.status_code == status, f"{path}: {response.status_code} {response.text}"
    return response.json()


def plant(service, key):
    """Store one model's benchmark series (a step up in latency), two test runs, one task."""
    api = client(service, key)
    tag = uuid.uuid4().hex[:6]
    planted = Planted(model=f"ui-{tag}/tiny-bert")
    start = datetime.now(UTC) - timedelta(days=10)
    base, latest = f"ui-bench-{tag}-base", f"ui-bench-{tag}-new"
    for batch in (base, latest):
        _post(api, "/api/db/benchmark/batches", {"batch_id": batch, "name": batch})
    rows = []
    for i in range(8):
        slow = i == 7
        run_id = f"ui-bench-{tag}-{i}"
        planted.bench_runs.append(run_id)
        rows.append(
            {
                "run_id": run_id,
                "model_name": planted.model,
                "hardware": "cpu",
                "batch_size": 1,
                "precision": "fp32",
                "status": "completed",
                "started_at": _iso(start + timedelta(hours=i)),
                "batch_id": latest if slow else base,
                "latency_ms_mean": 30.0 if slow else 10.0 + 0.1 * (i % 2),
                "throughput": 33.0 if slow else 100.0 + (i % 2),
                "memory_mb": 500.0,
            }
        )
    _post(api, "/api/db/benchmark/runs/bulk", rows)
    planted.bench_batches = (base, latest)
    _plant_tests(api, planted, tag, start)
    task = _post(
        api,
        "/api/db/generator/tasks",
        {"model_name": planted.model, "status": "completed", "hardware": ["cpu"]},
    )
    planted.task_id = task["task_id"]
    return planted


def _plant_tests(api, planted, tag, start):
    """Two runs of one configuration: the second fails a test the first passed."""
    batches = (f"ui-test-{tag}-a", f"ui-test-{tag}-b")
    for batch in batches:
        _post(api, "/api/db/test/batches", {"batch_id": batch, "name": batch})
    for i, outcome in enumerate(("passed", "failed")):
        run = _post(
            api,
            "/api/db/test/runs",
            {
                "model_name": planted.model,
                "hardware": ["cpu"],
                "test_type": "basic",
                "status": "completed",
                "batch_id": batches[i],
                "started_at": _iso(start + timedelta(days=1, hours=i)),
                "results": {"tests_passed": 2 - i, "tests_failed": i},
                "steps": [
                    {"name": "test_load", "status": "passed", "duration": 0.5},
                    {"name": planted.failing_test, "status": outcome, "duration": 1.5},
                ],
            },
        )
        planted.test_runs.append(run["run_id"])
    planted.test_batches = batches


def signed_in(service, key):
    """Return a requests session signed in to the dashboard with ``key``."""
    session = requests.Session()
    response = session.post(
        service.url + "/ui/login", data={"api_key": key, "next": "/ui/"}, allow_redirects=False
    )
    assert response.status_code == 303, response.text
    return session
