"""Faults injected for real: slow components, a stopped component, timeouts (ORIGIN defects 2, 3)."""

import time

import pytest

from tests.gateway.conftest import (
    AVAILABLE,
    ENTITY,
    client,
    dead_url,
    start_component,
    start_gateway,
)

DELAY = 1.2  # each component's injected delay; three in series would take 3.6 s


def _timed(session, method, path, **kwargs):
    started = time.monotonic()
    response = session.call(method, path, **kwargs)
    return response, time.monotonic() - started


@pytest.fixture()
def fault_api(fault_gateway, keys):
    """Return a session for the fault gateway with a read key."""
    return client(fault_gateway, keys["read"])


def test_views_fan_out_concurrently(faults, fault_api):
    """Three components slowed by the same delay answer in about one delay, not three."""
    for server in faults.values():
        server.delay = DELAY
    for path in ("/api/db/overview", "/api/db/model/bert"):
        response, elapsed = _timed(fault_api, "GET", path)
        assert response.status_code == 200
        assert DELAY <= elapsed < DELAY * 2, f"{path} took {elapsed:.2f}s"
        for name, block in response.json()["components"].items():
            assert block["latency_ms"] >= DELAY * 1000 * 0.95, (name, block)


def test_health_fans_out_concurrently(faults, fault_gateway):
    """/health probes the components concurrently too."""
    for server in faults.values():
        server.delay = DELAY
    response, elapsed = _timed(client(fault_gateway), "GET", "/health")
    assert DELAY <= elapsed < DELAY * 2
    assert set(response.json()["components"]) == set(ENTITY)


def test_component_slow_past_budget_gives_200_within_budget(faults, fault_api):
    """A component slower than the 2 s budget is marked, the rest is served, answer in ~2 s."""
    faults["test"].delay = 6.0
    response, elapsed = _timed(fault_api, "GET", "/api/db/overview")
    assert response.status_code == 200
    assert elapsed < 3.5, f"overview took {elapsed:.2f}s with a 2 s budget"
    body = response.json()
    assert body["completed"] is False
    assert body["test_stats"] is None
    block = body["components"]["test"]
    assert block["ok"] is False and block["status_code"] == 504 and block["error"]
    for name in AVAILABLE:
        if name != "test":
            assert body["components"][name]["ok"] is True
            assert body[f"{name}_stats"] is not None


def test_search_slow_past_budget(faults, fault_api):
    """Search also answers within the budget with the slow part empty."""
    faults["test"].delay = 6.0
    response, elapsed = _timed(fault_api, "POST", "/api/db/search?query=bert")
    assert response.status_code == 200 and elapsed < 3.5
    body = response.json()
    assert body["test_results"] == [] and body["result_counts"]["test"] == 0
    assert body["completed"] is False and body["components"]["test"]["ok"] is False


def test_forward_read_timeout_gives_504_naming_the_component(faults, fault_api):
    """A forwarded call slower than the read timeout (1.5 s) answers 504 in the shared shape."""
    faults["generator"].delay = 4.0
    response, elapsed = _timed(fault_api, "GET", "/api/db/generator/echo")
    assert response.status_code == 504 and elapsed < 3.5
    error = response.json()["error"]
    assert error["code"] == "gateway_timeout" and "generator" in error["message"]
    assert error["details"]["component"] == "generator"


def test_forward_to_unreachable_component_gives_502(work_dir, keys_db, keys):
    """Nothing listening behind a component: 502 naming it; /health 503 with details."""
    urls = {name: dead_url() for name in ENTITY}
    gateway = start_gateway(work_dir, urls, keys_db, label="dead-gateway")
    try:
        session = client(gateway, keys["read"])
        response = session.call("GET", "/api/benchmark/db/runs?limit=1")
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "bad_gateway" and "benchmark" in error["message"]
        health = client(gateway).call("GET", "/health")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "degraded" and body["gateway"]["ok"] is True
        assert all(block["ok"] is False for block in body["components"].values())
    finally:
        gateway.stop()


@pytest.mark.skipif("test" not in AVAILABLE, reason="needs the Test Suite component")
def test_stopped_component_gives_200_incomplete(work_dir, keys_db, keys, components):
    """A component process killed mid-life: views 200 with completed false, forwarding 502."""
    (work_dir / "doomed").mkdir(exist_ok=True)
    doomed = start_component("test", work_dir / "doomed")  # its own process and database
    urls = {name: (components[name].url if name in components else dead_url()) for name in ENTITY}
    urls["test"] = doomed.url
    gateway = start_gateway(work_dir, urls, keys_db, label="stop-gateway", view_budget=2)
    try:
        session = client(gateway, keys["read"])
        before = session.call("GET", "/api/db/overview").json()
        assert before["components"]["test"]["ok"] is True
        doomed.stop()
        for path in ("/api/db/overview", "/api/db/model/bert"):
            response, elapsed = _timed(session, "GET", path)
            assert response.status_code == 200 and elapsed < 3
            body = response.json()
            assert body["completed"] is False
            assert body["components"]["test"]["ok"] is False
            assert body["components"]["test"]["status_code"] == 502
        model = session.call("GET", "/api/db/model/bert").json()
        assert model["recent_test_runs"] == [] and model["overview"]["total_test_runs"] is None
        assert session.call("GET", "/api/test/db/runs").status_code == 502
        assert client(gateway).call("GET", "/health").status_code == 503
    finally:
        gateway.stop()
        doomed.stop()
