"""The Benchmark's history and compare through the gateway: read scope, real processes."""

import uuid

import pytest

from tests.gateway.conftest import client


@pytest.fixture(scope="module")
def planted(gateway, keys):
    """Store two batches of one model through the gateway: the second is 50% slower."""
    api = client(gateway, keys["rw"])
    model = f"series-{uuid.uuid4().hex[:8]}"
    batches = [f"{model}-{n}" for n in range(2)]
    for index, batch in enumerate(batches):
        api.call("POST", "/api/benchmark/db/batches", json={"batch_id": batch}).raise_for_status()
        run = {
            "model_name": model,
            "hardware": "cpu",
            "batch_size": 1,
            "precision": "fp32",
            "status": "completed",
            "batch_id": batch,
            "started_at": f"2026-05-0{index + 1}T00:00:00Z",
            "latency_ms_mean": 10.0 * (1 + index / 2),
        }
        assert api.call("POST", "/api/benchmark/db/runs", json=run).status_code == 201
    return model, batches


def test_the_read_scope_reads_history_and_compare(gateway, keys, planted):
    model, (before, after) = planted
    reader = client(gateway, keys["read"])
    series = f"model_name={model}&hardware=cpu&batch_size=1&precision=fp32&metric=latency_ms_mean"
    history = reader.call("GET", f"/api/benchmark/db/history?{series}")
    assert history.status_code == 200, history.text
    assert [p["value"] for p in history.json()["points"]] == [10.0, 15.0]
    compared = reader.call("GET", f"/api/db/benchmark/compare?baseline={before}&contender={after}")
    assert compared.status_code == 200, compared.text
    assert compared.json()["pairs"][0]["metrics"]["latency_ms_mean"]["verdict"] == "regression"


def test_series_views_need_a_key_and_name_what_is_wrong(gateway, keys, planted):
    assert client(gateway).call("GET", "/api/benchmark/db/history").status_code == 401
    reader = client(gateway, keys["read"])
    missing = reader.call("GET", "/api/benchmark/db/history?model_name=x")
    assert missing.status_code == 400 and "hardware" in missing.json()["error"]["message"]
    unknown = reader.call("GET", "/api/benchmark/db/compare?baseline=no-such&contender=no-such")
    assert unknown.status_code == 404 and "no-such" in unknown.json()["error"]["message"]
