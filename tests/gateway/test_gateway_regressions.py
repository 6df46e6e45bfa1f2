"""Regressions through the gateway: verdicts on a real component, thresholds under the scopes,
and the judging's settings changed as writes on the change stream."""

import json

from tests.gateway.conftest import client
from tests.support import next_events
from unified_api_server.gateway.relay import RelayClient

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


def _changes(ws, count):
    """Return the next ``count`` change events of a stream (others skipped)."""
    return next_events(ws, "change", count)


def test_threshold_and_mark_writes_are_change_events_on_the_stream(gateway, keys):
    """A threshold set and deleted and a run marked are writes like any other: each is one
    change event, seen by a real WebSocket client through the gateway."""
    writer = client(gateway, keys["rw"])
    url = f"ws://127.0.0.1:{gateway.port}/api/benchmark/ws?model=streamed-judging"
    ws = RelayClient.connect(url, headers={"X-API-Key": keys["read"]})
    try:
        assert json.loads(ws.receive(timeout=10))["type"] == "subscribed"
        selector = {"model_name": "streamed-judging", "metric": "throughput", "percent": 25}
        assert writer.call("PUT", f"{BASE}/thresholds", json=selector).status_code == 200
        (put,) = _changes(ws, 1)
        assert (put["action"], put["entity"], put["component"]) == (
            "updated",
            "threshold",
            "benchmark",
        )
        assert put["selector"]["metric"] == "throughput" and put["percent"] == 25
        gone = f"{BASE}/thresholds?model_name=streamed-judging&metric=throughput"
        assert writer.call("DELETE", gone).status_code == 200
        (deleted,) = _changes(ws, 1)
        assert (deleted["action"], deleted["entity"]) == ("deleted", "threshold")
        body = {**_run(0, 10.0), "model_name": "streamed-judging"}
        run_id = writer.call("POST", f"{BASE}/runs", json=body).json()["run_id"]
        assert _changes(ws, 1)[0]["action"] == "created"
        mark = f"{BASE}/run/{run_id}/distribution-change"
        assert writer.call("POST", mark).status_code == 201
        (marked,) = _changes(ws, 1)
        assert (marked["action"], marked["entity"], marked["id"]) == (
            "created",
            "distribution_change",
            run_id,
        )
        assert writer.call("POST", mark).status_code == 200  # already marked: no change
        writer.call("PUT", f"{BASE}/thresholds", json=selector)
        assert _changes(ws, 1)[0]["entity"] == "threshold"  # the next event, not the mark
    finally:
        ws.close()
