"""WebSockets through the deployed entry points (nginx and the gateway), keys in the query too."""

import json

import pytest
import requests
import websocket

from tests.support import wait_until


def _socket(base, path):
    return websocket.create_connection("ws" + base[4:] + path, timeout=15)


def _next_change(ws):
    """Return the next data change a stream sends (a merged stream also says when a component
    comes up or goes down)."""
    for _ in range(20):
        event = json.loads(ws.recv())
        if event.get("type") == "change":
            return event
    raise AssertionError("no change event among the first 20 messages")


@pytest.mark.parametrize("entry", ["gateway", "nginx"])
def test_change_stream_with_a_browser_key(suite, entry):
    """A browser-style client (key in ?api_key=) follows /api/db/ws and /api/test/ws."""
    if entry == "nginx" and not suite.has_nginx:
        pytest.skip("nginx is not installed")
    base, key = suite.url(entry), suite.keys["read"]
    merged = _socket(base, f"/api/db/ws?model=e2e-ws-{entry}&api_key={key}")
    single = _socket(base, f"/api/test/ws?model=e2e-ws-{entry}&api_key={key}")
    try:
        assert json.loads(merged.recv())["type"] == "subscribed"
        assert json.loads(single.recv())["type"] == "subscribed"
        created = requests.post(
            base + "/api/db/test/runs",
            json={"model_name": f"e2e-ws-{entry}"},
            headers={"X-API-Key": suite.keys["write"]},
            timeout=15,
        )
        assert created.status_code == 201
        for ws in (merged, single):
            event = _next_change(ws)
            assert event["action"] == "created" and event["id"] == created.json()["run_id"]
    finally:
        merged.close()
        single.close()


@pytest.mark.parametrize("entry", ["gateway", "nginx"])
def test_job_socket_of_an_unknown_id(suite, entry):
    """An unknown job id: an error message, then the component's close code 1008."""
    if entry == "nginx" and not suite.has_nginx:
        pytest.skip("nginx is not installed")
    ws = _socket(suite.url(entry), f"/api/test/ws/no-such-run?api_key={suite.keys['read']}")
    try:
        assert "error" in json.loads(ws.recv())
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1008
    finally:
        ws.close()


def test_websocket_without_a_key_is_refused(suite):
    """No key, no socket: 401 before the upgrade."""
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _socket(suite.url("gateway"), "/api/db/ws")
    assert refused.value.status_code == 401


def test_a_browser_key_never_reaches_the_nginx_access_log(suite):
    """The ?api_key= of a WebSocket opening is masked in nginx's log (headers are never logged)."""
    if not suite.has_nginx:
        pytest.skip("nginx is not installed")
    key = suite.keys["read"]
    ws = _socket(suite.url("nginx"), f"/api/db/ws?model=e2e-log&api_key={key}")
    ws.close()
    log_path = f"{suite.run_dir}/nginx/access.log"

    def logged():  # the log is buffered and flushed every second
        with open(log_path, encoding="utf-8") as handle:
            text = handle.read()
        return text if "e2e-log" in text else None

    text = wait_until(logged, timeout=30, interval=0.3, message="the opening in access.log")
    assert "/api/db/ws?model=e2e-log&api_key=REDACTED" in text
    assert key not in text
