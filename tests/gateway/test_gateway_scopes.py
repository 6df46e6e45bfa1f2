"""Per-component scopes through a real gateway: forwards, views, the change streams."""

import json
import time

import pytest
import requests
import simple_websocket

from tests.support import raw_request
from unified_api_server.gateway.relay import RelayClient
from unified_api_server.gateway.roles import RoleStore


@pytest.fixture(scope="module")
def scoped(store):
    """Keys reading or writing one component only, and one whose role adds a component."""
    return {
        "tester": store.create("c-tester", "test:read,test:write"),
        "bench-admin": store.create("c-bench-admin", "benchmark:admin"),
        "ci": store.create("c-ci", "", roles=["ci-uploader"]),
        "writer": store.create("c-writer", "test:write"),
    }


def _call(gateway, key, method, path, body=None):
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    status, _, data = raw_request(gateway.port, method, path, headers, body)
    return status, json.loads(data) if data else None


@pytest.mark.parametrize(
    "who,method,path,expected",
    [
        ("tester", "GET", "/api/db/test/runs?limit=1", None),
        ("tester", "GET", "/api/test/db/runs?limit=1", None),
        ("tester", "GET", "/api/db/benchmark/runs", "benchmark:read"),
        ("tester", "POST", "/api/generator/model", "generator:write"),
        ("tester", "DELETE", "/api/db/generator/task/x", "generator:write"),
        ("bench-admin", "GET", "/api/db/benchmark/runs?limit=1", None),
        ("bench-admin", "POST", "/api/benchmark/db/migrations/apply", None),
        ("bench-admin", "POST", "/api/test/db/migrations/apply", "test:admin"),
        ("bench-admin", "GET", "/metrics", "admin"),
        ("ci", "POST", "/api/db/generator/tasks/bulk", "generator:write"),
        ("ci", "GET", "/api/db/generator/tasks?limit=1", None),
        ("writer", "GET", "/api/db/test/runs", "test:read"),
        ("writer", "GET", "/api/db/overview", "read"),
        ("writer", "GET", "/", "read"),
    ],
)
def test_component_scopes_name_what_is_missing(gateway, scoped, who, method, path, expected):
    """A component route needs its component's scope (or the global one); 403 names it."""
    status, body = _call(gateway, scoped[who], method, path, b"{}" if method == "POST" else None)
    if expected is None:
        assert status < 400 or status in (400, 404, 409), body  # reached the component
        return
    assert status == 403, body
    assert body["error"]["details"] == {"missing_scope": expected}
    assert f"'{expected}'" in body["error"]["message"]


def test_auth_check_gives_nginx_the_same_answer(gateway, scoped):
    """/auth/check decides per component too, and names the missing scope in a header."""
    headers = {
        "X-API-Key": scoped["tester"],
        "X-Original-Method": "GET",
        "X-Original-URI": "/api/db/benchmark/runs",
    }
    status, answer, _ = raw_request(gateway.port, "GET", "/auth/check", headers)
    assert status == 403 and answer["X-Missing-Scope"] == "benchmark:read"
    headers["X-Original-URI"] = "/api/test/db/runs"
    status, answer, _ = raw_request(gateway.port, "GET", "/auth/check", headers)
    assert status == 204 and answer["X-API-Key-Scopes"] == "test:read,test:write"
    headers["X-API-Key"] = scoped["ci"]
    status, answer, _ = raw_request(gateway.port, "GET", "/auth/check", headers)
    assert status == 204 and answer["X-API-Key-Scopes"] == "read,test:write,benchmark:write"


@pytest.mark.parametrize(
    "method,path,part",
    [
        ("GET", "/api/db/overview", "{name}_stats"),
        ("GET", "/api/db/model/bert-base-uncased", "{name}_model_stats"),
        ("POST", "/api/db/search?query=bert", "{name}_results"),
        ("GET", "/api/db/alerts", None),
    ],
)
def test_views_show_only_readable_components(gateway, scoped, keys, method, path, part):
    """A key reading only the Test Suite sees only it; the others say forbidden, uncalled."""
    status, body = _call(gateway, scoped["tester"], method, path)
    assert status == 200, body
    assert body["completed"] is True
    for name in ("generator", "benchmark"):
        block = body["components"][name]
        assert block["skipped"] == f"forbidden: the '{name}:read' scope is needed"
        assert block["status_code"] is None  # never called
        if part:
            assert body[part.format(name=name)] in (None, [])
    assert "skipped" not in body["components"]["test"]
    if method == "GET" and path.endswith("alerts"):
        assert {alert["component"] for alert in body["alerts"]} <= {"test"}
    full = _call(gateway, keys["read"], method, path)[1]
    assert all("skipped" not in block for block in full["components"].values())


def _open(gateway, path, headers):
    return RelayClient.connect(f"ws://127.0.0.1:{gateway.port}{path}", headers=headers)


def _greeting(ws):
    try:
        return json.loads(ws.receive(timeout=5))
    finally:
        ws.close()


def _session_token(gateway, key):
    answer = requests.post(
        gateway.url + "/ui/login", data={"api_key": key}, allow_redirects=False, timeout=10
    )
    return answer.cookies["uas_session"]


def test_merged_stream_carries_only_readable_components(gateway, scoped):
    """/api/db/ws with a cookie from the same origin: subscribed to the Test Suite alone."""
    token = _session_token(gateway, scoped["tester"])
    # simple-websocket sends "Host: 127.0.0.1" (no port): the page's origin is that host
    cookie = {"Cookie": f"uas_session={token}", "Origin": "http://127.0.0.1"}
    greeting = _greeting(_open(gateway, "/api/db/ws", cookie))
    assert greeting["type"] == "subscribed" and greeting["components"] == ["test"]
    assert set(greeting["forbidden"]) == {"generator", "benchmark"}
    greeting = _greeting(_open(gateway, "/api/test/ws", {"Authorization": f"Bearer {token}"}))
    assert greeting == {"type": "subscribed", "components": ["test"]}


@pytest.mark.parametrize("origin", [None, "http://evil.example", "null"])
def test_cookie_sockets_must_come_from_the_sites_pages(gateway, scoped, origin):
    """A cookie WebSocket from another origin (or none): 403 before any upgrade."""
    token = _session_token(gateway, scoped["tester"])
    headers = {"Cookie": f"uas_session={token}"}
    if origin:
        headers["Origin"] = origin
    with pytest.raises(simple_websocket.ConnectionError) as refused:
        _open(gateway, "/api/db/ws", headers)
    assert refused.value.status_code == 403


@pytest.mark.parametrize("path", ["/api/benchmark/ws", "/api/generator/ws/some-task"])
def test_sockets_of_unreadable_components_are_refused(gateway, scoped, path):
    """A key without the component's read scope cannot open its stream or a job socket."""
    with pytest.raises(simple_websocket.ConnectionError) as refused:
        _open(gateway, path, {"X-API-Key": scoped["tester"]})
    assert refused.value.status_code == 403
    status, body = _call(gateway, scoped["tester"], "GET", path)
    assert status == 403 and body["error"]["details"]["missing_scope"].endswith(":read")


def test_a_stream_closes_when_its_key_loses_a_component(gateway, store):
    """Taking a component's read away closes a merged stream carrying it (1008, naming it)."""
    RoleStore(store).create("c-streamers", "test:read,generator:read")
    key = store.create("c-streamer", "", roles=["c-streamers"])
    ws = _open(gateway, "/api/db/ws", {"X-API-Key": key})
    assert json.loads(ws.receive(timeout=5))["components"] == ["test", "generator"]
    RoleStore(store).set("c-streamers", "test:read")
    deadline = time.monotonic() + 5
    with pytest.raises(simple_websocket.ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            ws.receive(timeout=max(0.01, deadline - time.monotonic()))
    assert closed.value.reason == 1008 and "generator:read" in closed.value.message
