"""Change streams: at a component, through the gateway, merged, filtered, and when one is down."""

import json

import pytest
import requests
import websocket

from tests.jobs.conftest import close_frame, receive_json, until
from tests.support import ServiceProcess, dead_url


def ndjson(rows):
    """Return rows as an NDJSON body."""
    return "\n".join(json.dumps(r) for r in rows)


def test_component_stream_filters_and_bulk(components):
    """A component's /ws streams created/updated/deleted; a bulk load is one event."""
    url = components["test"].url
    ws = websocket.create_connection("ws" + url[4:] + "/api/test/ws?model=stream-a", timeout=10)
    try:
        assert receive_json(ws)["type"] == "subscribed"
        requests.post(url + "/api/test/db/runs", json={"model_name": "other"}, timeout=10)
        created = requests.post(
            url + "/api/test/db/runs",
            json={"model_name": "stream-a", "status": "running"},
            timeout=10,
        ).json()
        event = receive_json(ws)
        assert (event["action"], event["id"], event["status"]) == (
            "created",
            created["run_id"],
            "running",
        )
        requests.patch(
            f"{url}/api/test/db/run/{created['run_id']}", json={"status": "completed"}, timeout=10
        )
        event = receive_json(ws)
        assert event["action"] == "updated" and event["changes"]["status"] == "completed"
        rows = [{"model_name": m} for m in ("stream-a", "stream-b") * 500]
        stored = requests.post(url + "/api/test/db/runs/bulk", data=ndjson(rows), timeout=30)
        assert stored.status_code == 201, stored.text
        event = receive_json(ws)
        assert event["action"] == "bulk_created" and event["count"] == 1000
        assert event["model_names"] == ["stream-a", "stream-b"]
        requests.delete(f"{url}/api/test/db/run/{created['run_id']}", timeout=10)
        assert receive_json(ws)["action"] == "deleted"
    finally:
        ws.close()


def test_stream_through_the_gateway_with_query_key(api, components):
    """Browsers pass the key as ?api_key=; the component never sees it; filters still apply."""
    ws = websocket.create_connection(
        "ws" + api.url[4:] + f"/api/test/ws?status=failed&api_key={api.key}", timeout=10
    )
    try:
        assert receive_json(ws)["type"] == "subscribed"
        api.post("/api/db/test/runs", {"model_name": "gw", "status": "completed"})
        api.post("/api/db/test/runs", {"model_name": "gw", "status": "failed"})
        event = receive_json(ws)
        assert event["status"] == "failed" and event["model_name"] == "gw"
        ws.send("ping")
        assert receive_json(ws) == {"pong": True}
    finally:
        ws.close()


def test_gateway_holds_one_upstream_stream_for_many_clients(api, components):
    """Ten clients of /api/test/ws cost the component one subscriber, not ten."""
    clients = [api.socket("/api/test/ws?model=fan") for _ in range(10)]
    try:
        for ws in clients:
            assert receive_json(ws)["type"] == "subscribed"
        health = requests.get(components["test"].url + "/health", timeout=10).json()
        assert health["change_subscribers"] == 1
        api.post("/api/db/test/runs", {"model_name": "fan"})
        assert all(receive_json(ws)["model_name"] == "fan" for ws in clients)
    finally:
        for ws in clients:
            ws.close()


def test_merged_stream_while_bulk_ingesting(api):
    """/api/db/ws merges the three components; each bulk load arrives as one event."""
    ws = api.socket("/api/db/ws?model=merged-model")
    try:
        assert receive_json(ws)["components"] == ["test", "generator", "benchmark"]
        for component, entity in (("test", "runs"), ("generator", "tasks"), ("benchmark", "runs")):
            rows = [{"model_name": "merged-model"}] * 2000
            answer = api.call(
                "POST",
                f"/api/db/{component}/{entity}/bulk",
                data=ndjson(rows),
                headers={"Content-Type": "application/x-ndjson"},
            )
            assert answer.status_code == 201, answer.text
        seen = {}
        while len(seen) < 3:
            event = receive_json(ws)
            assert event["action"] == "bulk_created", event
            seen[event["component"]] = event["count"]
        assert seen == {"test": 2000, "generator": 2000, "benchmark": 2000}
    finally:
        ws.close()


def test_websocket_needs_a_key(api):
    """A WebSocket opening without a key is refused with 401 like every route."""
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection("ws" + api.url[4:] + "/api/db/ws", timeout=10)
    assert refused.value.status_code == 401


@pytest.fixture
def half_gateway(jobs_dir, components):
    """A gateway whose benchmark component is down (nothing listens at its URL)."""
    urls = {name: service.url for name, service in components.items()}
    urls["benchmark"] = dead_url()
    keys_db = jobs_dir / "keys.sqlite3"
    service = ServiceProcess.gateway(urls, keys_db, jobs_dir / "half-gateway.log", workers=1)
    try:  # /health answers 503 while a component is down
        yield service.wait_ready(statuses=(200, 503))
    finally:
        service.stop()


def test_component_down(half_gateway, api_key):
    """Down: its own stream closes 1011 with the reason; the merged stream says so, goes on."""
    base = "ws" + half_gateway.url[4:]
    header = [f"X-API-Key: {api_key}"]
    assert_closed_as_down(base + "/api/benchmark/ws", api_key)
    ws = websocket.create_connection(base + "/api/db/ws?model=half", timeout=10, header=header)
    try:
        down = until(ws, lambda m: m.get("type") == "component_down")
        assert down["component"] == "benchmark"
        requests.post(
            half_gateway.url + "/api/db/test/runs",
            json={"model_name": "half"},
            headers={"X-API-Key": api_key},
            timeout=10,
        )
        event = until(ws, lambda m: m.get("type") == "change")
        assert event["component"] == "test" and event["model_name"] == "half"
    finally:
        ws.close()


def test_job_socket_of_a_down_component(half_gateway, api_key):
    """A job socket to a component that is down says why and closes with 1011."""
    assert_closed_as_down("ws" + half_gateway.url[4:] + "/api/benchmark/ws/some-id", api_key)


def assert_closed_as_down(url, api_key):
    """Open ``url``; the benchmark component is down: a reason, then close code 1011."""
    ws = websocket.create_connection(url, timeout=10, header=[f"X-API-Key: {api_key}"])
    try:
        assert "unreachable" in receive_json(ws)["error"]
        code, reason = close_frame(ws)
        assert code == 1011 and "benchmark" in reason
    finally:
        ws.close()
