"""The Test Suite's compare, flaky and history through the gateway: read scope, real processes."""

import uuid

import pytest

from tests.gateway.conftest import client


@pytest.fixture(scope="module")
def planted(gateway, keys):
    """Store two batches of one model through the gateway: test_x breaks, test_y flips."""
    api = client(gateway, keys["rw"])
    model = f"analysis-{uuid.uuid4().hex[:8]}"
    batches = [f"{model}-{n}" for n in range(2)]
    for index in range(6):
        batch = batches[index // 3]
        if index % 3 == 0:
            api.call("POST", "/api/test/db/batches", json={"batch_id": batch}).raise_for_status()
        steps = [
            {"name": "test_x", "status": "passed" if index < 3 else "failed"},
            {"name": "test_y", "status": "passed" if index % 2 else "failed"},
        ]
        run = {
            "model_name": model,
            "hardware": ["cpu"],
            "status": "completed",
            "batch_id": batch,
            "started_at": f"2026-04-0{index + 1}T00:00:00Z",
            "steps": steps,
        }
        assert api.call("POST", "/api/test/db/runs", json=run).status_code == 201
    return model, batches


def test_the_read_scope_reads_every_analysis(gateway, keys, planted):
    model, (before, after) = planted
    reader = client(gateway, keys["read"])
    compared = reader.call("GET", f"/api/test/db/compare?baseline={before}&contender={after}")
    assert compared.status_code == 200, compared.text
    assert [t["name"] for t in compared.json()["newly_failing"]] == ["test_x"]
    flaky = reader.call("GET", f"/api/db/test/flaky?model_name={model}&window=20")  # the alias
    assert [(t["name"], t["flips"], t["flip_rate"]) for t in flaky.json()["tests"]] == [
        ("test_y", 5, 1.0)
    ]
    history = reader.call("GET", f"/api/test/db/history?model_name={model}&bucket=run").json()
    assert [p["pass_rate"] for p in history["points"]] == [0.5, 1.0, 0.5, 0.5, 0.0, 0.5]


def test_analyses_need_a_key_and_say_what_is_wrong(gateway, keys, planted):
    assert client(gateway).call("GET", "/api/test/db/flaky").status_code == 401
    reader = client(gateway, keys["read"])
    unknown = reader.call("GET", "/api/test/db/compare?baseline=no-such&contender=no-such")
    assert unknown.status_code == 404 and "no-such" in unknown.json()["error"]["message"]
    assert reader.call("GET", "/api/test/db/flaky?window=10001").status_code == 400
    assert reader.call("GET", "/api/test/db/history?colour=red").status_code == 400
