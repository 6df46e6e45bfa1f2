"""Regressions through the gateway: verdicts on a real component, thresholds under the scopes."""

from tests.gateway.conftest import client

BASE = "/api/benchmark/db"


def _run(index, latency):
    return {
        "model_name": "gateway-step",
        "hardware": "cpu",
        "started_at": f"2025-02-01T00:{index:02d}:00+00:00",
        "latency_ms_mean": latency,
    }


def test_a_planted_step_is_flagged_through_the_gateway(gateway, keys):
    writer, reader = client(gateway, keys["rw"]), client(gateway, keys["read"])
    ids = []
    for i, latency in enumerate([10.0, 10.1, 9.9, 10.0, 10.1, 9.9, 10.0, 20.0]):
        response = writer.call("POST", f"{BASE}/runs", json=_run(i, latency))
        assert response.status_code == 201, response.text
        ids.append(response.json()["run_id"])
    flagged = reader.call("GET", f"{BASE}/runs?regression=true&model_name=gateway-step")
    assert [r["run_id"] for r in flagged.json()["runs"]] == [ids[-1]]
    detail = reader.call("GET", f"{BASE}/run/{ids[-1]}").json()
    assert detail["analysis"]["latency_ms_mean"]["verdict"] == "regression"
    assert reader.call("GET", f"{BASE}/runs?regression=maybe").status_code == 400


def test_thresholds_and_marks_need_the_write_scope(gateway, keys):
    reader, writer = client(gateway, keys["read"]), client(gateway, keys["write"])
    selector = {"model_name": "gateway-scope", "percent": 25}
    assert reader.call("GET", f"{BASE}/thresholds").status_code == 200
    assert reader.call("PUT", f"{BASE}/thresholds", json=selector).status_code == 403
    assert writer.call("PUT", f"{BASE}/thresholds", json=selector).status_code == 200
    gone = f"{BASE}/thresholds?model_name=gateway-scope"
    assert reader.call("DELETE", gone).status_code == 403
    assert writer.call("DELETE", gone).status_code == 200
    mark = f"{BASE}/run/no-such-run/distribution-change"
    assert reader.call("POST", mark).status_code == 403
    assert writer.call("POST", mark).status_code == 404
