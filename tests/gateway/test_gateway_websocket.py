"""The WebSocket relay: messages both ways, close codes, keys and scopes (ORIGIN defect 5)."""

import json
import time

import pytest
import simple_websocket

from tests.gateway.conftest import ENTITY, start_gateway
from tests.support import ServiceProcess, dead_url, free_port, wait_until
from unified_api_server.gateway.relay import RelayClient


@pytest.fixture(scope="module")
def ws_gateway(work_dir, keys_db, keys):
    """Run a real flask-sock stand-in for a component and a gateway in front of it."""
    port = free_port()
    args = ["-m", "tests.gateway.ws_upstream", str(port)]
    upstream = ServiceProcess(args, port, work_dir / "ws.log").wait_ready()
    urls = {name: dead_url() for name in ENTITY}
    urls["test"] = upstream.url
    gateway = start_gateway(work_dir, urls, keys_db, label="ws-gateway")
    yield gateway
    gateway.stop()
    upstream.stop()


def _connect(gateway, path, key):
    return RelayClient.connect(f"ws://127.0.0.1:{gateway.port}{path}", headers={"X-API-Key": key})


def _close(ws):
    try:
        ws.close()
    except simple_websocket.ConnectionClosed:
        pass


def test_relay_passes_messages_and_close_codes(ws_gateway, keys):
    """Status on connect, ping/pong, and the component's close code reach the client."""
    ws = _connect(ws_gateway, "/api/test/ws/run-1", keys["rw"])
    try:
        assert json.loads(ws.receive(timeout=5)) == {"run_id": "run-1", "status": "running"}
        ws.send("ping")
        assert json.loads(ws.receive(timeout=5)) == {"pong": True}
        ws.send("cancel")
        assert json.loads(ws.receive(timeout=5))["status"] == "cancelled"
        ws.send("bye")
        with pytest.raises(simple_websocket.ConnectionClosed) as closed:
            while True:
                ws.receive(timeout=5)
        assert closed.value.reason == 4000
    finally:
        _close(ws)


def test_relay_refuses_cancel_without_write_scope(ws_gateway, keys):
    """A read-only key may watch but not cancel."""
    ws = _connect(ws_gateway, "/api/test/ws/run-2", keys["read"])
    try:
        ws.receive(timeout=5)
        ws.send("cancel")
        assert "write" in json.loads(ws.receive(timeout=5))["error"]
        ws.send("ping")
        assert json.loads(ws.receive(timeout=5)) == {"pong": True}
    finally:
        _close(ws)


def test_relay_needs_a_key(ws_gateway, keys):
    """Opening the socket without a valid key fails with 401 before any upgrade."""
    with pytest.raises(simple_websocket.ConnectionError) as refused:
        _connect(ws_gateway, "/api/test/ws/run-3", "uas_bad")
    assert refused.value.status_code == 401


def test_relay_to_down_component_closes_1011(ws_gateway, keys):
    """A component that is not there: the socket opens, says why, and closes with 1011."""
    ws = _connect(ws_gateway, "/api/generator/ws/run-4", keys["read"])
    try:
        assert "unreachable" in json.loads(ws.receive(timeout=5))["error"]
        with pytest.raises(simple_websocket.ConnectionClosed) as closed:
            ws.receive(timeout=5)
        assert closed.value.reason == 1011 and "generator" in closed.value.message
    finally:
        _close(ws)


def _closed_within(ws, seconds):
    """Return the ConnectionClosed that ends ``ws`` within ``seconds`` (skipping messages)."""
    deadline = time.monotonic() + seconds
    with pytest.raises(simple_websocket.ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            ws.receive(timeout=max(0.01, deadline - time.monotonic()))
    return closed.value


def test_revoking_a_key_closes_its_open_sockets_within_five_seconds(ws_gateway, gateway, store):
    """A job socket, a component's change stream and the merged stream all end with 1008."""
    key = store.create("t-ws-revoked", "read,write")
    sockets = [
        _connect(ws_gateway, "/api/test/ws/run-5", key),
        _connect(gateway, "/api/test/ws", key),
        _connect(gateway, "/api/db/ws", key),
    ]
    try:
        assert json.loads(sockets[0].receive(timeout=5))["status"] == "running"
        time.sleep(1.5)  # every socket is open and watched
        store.revoke("t-ws-revoked")
        for ws in sockets:
            closed = _closed_within(ws, 5)
            assert closed.reason == 1008 and "revoked" in closed.message, closed
    finally:
        for ws in sockets:
            _close(ws)


def test_a_revoked_key_cannot_open_a_socket(gateway, store):
    """A revoked key's handshake is refused with 401 before any upgrade."""
    key = store.create("t-ws-revoked-early", "read")
    store.revoke("t-ws-revoked-early")
    with pytest.raises(simple_websocket.ConnectionError) as refused:
        _connect(gateway, "/api/db/ws", key)
    assert refused.value.status_code == 401


def test_one_key_cannot_take_every_job_socket(ws_gateway, store):
    """4 job sockets per key (the default) across both workers; the 5th gets 429 in JSON."""
    key = store.create("t-ws-hog", "read")
    held = [_connect(ws_gateway, f"/api/test/ws/hog-{i}", key) for i in range(4)]
    try:
        with pytest.raises(simple_websocket.ConnectionError) as refused:
            _connect(ws_gateway, "/api/test/ws/hog-5", key)
        assert refused.value.status_code == 429
        other = _connect(ws_gateway, "/api/test/ws/other", store.create("t-ws-other", "read"))
        _close(other)  # another key still gets in
        _close(held.pop())

        def reopened():
            try:
                held.append(_connect(ws_gateway, "/api/test/ws/hog-6", key))
                return True
            except simple_websocket.ConnectionError:
                return False

        wait_until(reopened, timeout=10, interval=0.2, message="a freed slot taken again")
    finally:
        for ws in held:
            _close(ws)
