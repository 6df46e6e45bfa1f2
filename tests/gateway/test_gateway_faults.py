"""Faults injected for real: slow, stopped and missing components (ORIGIN defects 2, 3).

No test bounds wall-clock time: concurrency shows in the fault servers' own records (every
component's call was in flight at once), and "answered within the budget" shows as an answer
that arrived while the slow component was still working on its call.
"""

import pytest

from tests.gateway.conftest import ENTITY, client, start_component, start_gateway
from tests.support import NAMES, dead_url, wait_until

SLOW = 60.0  # a component slower than any budget; the fault servers release it after the test


@pytest.fixture()
def fault_api(fault_gateway, keys):
    """Return a session for the fault gateway with a read key."""
    return client(fault_gateway, keys["read"])


def _overlapping(calls):
    """Tell whether the calls were all in flight at one moment (they ran concurrently)."""
    return max(arrived for _, arrived, _ in calls) < min(answered for _, _, answered in calls)


@pytest.mark.parametrize("path", ["/api/db/overview", "/api/db/model/bert"])
def test_views_fan_out_concurrently(faults, fault_api, path):
    """With every component slowed, each one's call arrives before any is answered."""
    for server in faults.values():
        server.delay = 1.0
    response = fault_api.call("GET", path)
    assert response.status_code == 200
    calls = [server.calls[0] for server in faults.values()]
    assert _overlapping(calls), calls
    for name, block in response.json()["components"].items():
        assert block["ok"] is True and block["latency_ms"] >= 1000, (name, block)


def test_health_fans_out_concurrently(faults, fault_gateway):
    """/health probes the components concurrently too."""
    for server in faults.values():
        server.delay = 1.0
    response = client(fault_gateway).call("GET", "/health")
    assert set(response.json()["components"]) == set(ENTITY)
    assert _overlapping([server.calls[0] for server in faults.values()])


def test_component_slow_past_budget_is_left_out(faults, fault_api):
    """A component slower than the budget is marked 504 and left empty; the rest is served."""
    faults["test"].delay = SLOW
    response = fault_api.call("GET", "/api/db/overview")
    assert faults["test"].pending("/models/stats"), "the answer waited for the slow component"
    assert response.status_code == 200
    body = response.json()
    assert body["completed"] is False
    assert body["test_stats"] is None
    block = body["components"]["test"]
    assert block["ok"] is False and block["status_code"] == 504 and block["error"]
    for name in NAMES:
        if name != "test":
            assert body["components"][name]["ok"] is True
            assert body[f"{name}_stats"] is not None


def test_search_slow_past_budget(faults, fault_api):
    """Search also answers with the slow part empty, before the slow component does."""
    faults["test"].delay = SLOW
    response = fault_api.call("POST", "/api/db/search?query=bert")
    assert faults["test"].pending("/search")
    assert response.status_code == 200
    body = response.json()
    assert body["test_results"] == [] and body["result_counts"]["test"] == 0
    assert body["completed"] is False and body["components"]["test"]["ok"] is False


def test_forward_read_timeout_gives_504_naming_the_component(faults, fault_api):
    """A forwarded call slower than the read timeout answers 504 in the shared shape."""
    faults["generator"].delay = SLOW
    response = fault_api.call("GET", "/api/db/generator/echo")
    assert faults["generator"].pending("/echo")
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "gateway_timeout" and "generator" in error["message"]
    assert error["details"]["component"] == "generator"


def _arrivals(server, fragment):
    return [call for call in server.calls if fragment in call[0]]


def test_a_read_left_unanswered_is_sent_once_more(faults, fault_api):
    """A component ending the connection as a GET arrives (a keep-alive closing at that moment):
    the gateway sends the read again on a fresh connection and answers it; a second silent end
    is a 502, not a loop."""
    faults["generator"].drop = 1
    response = fault_api.call("GET", "/api/db/generator/echo?once")
    assert response.status_code == 200, response.text
    assert response.json()["method"] == "GET"
    assert len(_arrivals(faults["generator"], "echo?once")) == 2
    faults["generator"].drop = 2
    response = fault_api.call("GET", "/api/db/generator/echo?twice")
    assert response.status_code == 502
    assert response.json()["error"]["details"]["component"] == "generator"
    assert len(_arrivals(faults["generator"], "echo?twice")) == 2


def test_a_write_left_unanswered_is_not_sent_again(faults, fault_gateway, keys):
    """A POST may have been stored before its connection ended: it is never sent twice."""
    faults["generator"].drop = 1
    writer = client(fault_gateway, keys["rw"])
    response = writer.call("POST", "/api/db/generator/echo?write", json={"prompt": "x"})
    assert response.status_code == 502
    assert len(_arrivals(faults["generator"], "echo?write")) == 1


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


def test_stopped_component_gives_200_incomplete(work_dir, keys_db, keys, components):
    """A component process killed mid-life: views 200 with completed false, forwarding 502
    (503 once the refusals have marked it down)."""
    (work_dir / "doomed").mkdir(exist_ok=True)
    doomed = start_component("test", work_dir / "doomed")  # its own process and database
    urls = {name: components[name].url for name in NAMES}
    urls["test"] = doomed.url
    gateway = start_gateway(work_dir, urls, keys_db, label="stop-gateway", view_budget=2)
    try:
        session = client(gateway, keys["read"])
        before = session.call("GET", "/api/db/overview").json()
        assert before["components"]["test"]["ok"] is True
        doomed.stop()
        for path in ("/api/db/overview", "/api/db/model/bert"):
            response = session.call("GET", path)
            assert response.status_code == 200
            body = response.json()
            assert body["completed"] is False
            assert body["components"]["test"]["ok"] is False
            assert body["components"]["test"]["status_code"] == 502
        model = session.call("GET", "/api/db/model/bert").json()
        assert model["recent_test_runs"] == [] and model["overview"]["total_test_runs"] is None
        forwarded = session.call("GET", "/api/test/db/runs")
        assert forwarded.status_code in (502, 503)
        assert forwarded.json()["error"]["details"]["component"] == "test"
        assert client(gateway).call("GET", "/health").status_code == 503
    finally:
        gateway.stop()
        doomed.stop()


@pytest.fixture()
def breaker_gateway(work_dir, faults, keys_db, keys):
    """A one-worker gateway whose breaker opens after 3 timeouts (0.5 s) for 1.5 s."""
    urls = {name: server.url for name, server in faults.items()}
    settings = {"breaker_failures": 3, "breaker_cooldown": 1.5, "read_timeout": 0.5}
    service = start_gateway(
        work_dir, urls, keys_db, label="breaker-gateway", workers=1, view_budget=2, **settings
    )
    yield service
    service.stop()


def _requests(server):
    """Return the calls the gateway made for clients (not its cache's change-stream attempts)."""
    return [call for call in server.calls if not call[0].endswith("/ws")]


def test_a_hung_component_is_marked_down_then_probed_back(faults, breaker_gateway, keys):
    """3 timeouts open the breaker: callers get 503 at once and the views skip the component
    without calling it; after the cool-down a /health probe brings it back."""
    session = client(breaker_gateway, keys["read"])
    hung = faults["benchmark"]
    hung.delay, hung.calls = SLOW, []  # forget the gateway's start-up health check
    for _ in range(3):
        assert session.call("GET", "/api/db/benchmark/runs").status_code == 504
    assert len(_requests(hung)) == 3
    refused = session.call("GET", "/api/db/benchmark/runs")
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
    assert "marked down after 3 failed calls" in refused.json()["error"]["message"]
    overview = session.call("GET", "/api/db/overview").json()
    block = overview["components"]["benchmark"]
    assert block["ok"] is False and block["status_code"] == 503
    assert overview["components"]["test"]["ok"] is True
    assert len(_requests(hung)) == 3, "a component marked down was called anyway"
    hung.reset()  # answers again
    wait_until(
        lambda: session.call("GET", "/api/db/benchmark/runs").status_code == 200,
        timeout=10,
        interval=0.3,
        message="benchmark probed back to health",
    )
    assert any(call[0] == "/health" for call in hung.calls)
