"""Request bodies at the gateway: read whole before forwarding, within deadlines and the limit.

Slow, abandoned and oversized bodies cost the gateway a greenlet and the component nothing:
the component only ever sees complete bodies (ORIGIN audit: 33 stalled bodies took a
component down for 117 s; a 600 MB chunked upload was never cut).
"""

import json
import socket

import pytest

from tests.gateway.conftest import client, start_gateway
from tests.support import NAMES, read_answer

LIMIT_MB = 2


@pytest.fixture(scope="module")
def body_gateway(work_dir, components, keys_db, keys):
    """A gateway with a 2 MiB body limit and a 1 s body deadline, before the real components."""
    urls = {name: components[name].url for name in NAMES}
    service = start_gateway(
        work_dir, urls, keys_db, label="body-gateway", max_body_mb=LIMIT_MB, body_timeout=1
    )
    yield service
    service.stop()


def _open(port, head):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head)
    return sock


def _answer(sock):
    """Read the whole answer (the gateway closes after a body error); return (status, json)."""
    status, body = read_answer(sock)
    return status, json.loads(body)


def _head(method, path, key, extra=""):
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/x-ndjson\r\n{extra}\r\n"
    ).encode()


def _rows(prefix, count):
    line = '{"model_name": "%s", "status": "completed", "started_at": "2026-01-01T00:00:00Z"}\n'
    return "".join(line % f"{prefix}-{i}" for i in range(count)).encode()


def _count(body_gateway, keys, prefix):
    api = client(body_gateway, keys["read"])
    return api.call("GET", f"/api/db/test/runs?model_name={prefix}-0").json()["count"]


def test_a_chunked_upload_is_cut_at_the_limit(body_gateway, keys):
    """No Content-Length: the gateway counts, answers 413 past the limit, forwards nothing."""
    sock = _open(
        body_gateway.port,
        _head("POST", "/api/db/test/runs/bulk", keys["rw"], "Transfer-Encoding: chunked\r\n"),
    )
    rows = _rows("cut", 20_000)  # about 1.8 MiB a chunk
    try:
        for _ in range(3):
            sock.sendall(b"%x\r\n%s\r\n" % (len(rows), rows))
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered and closed while the upload was still coming
    status, body = _answer(sock)
    sock.close()
    assert status == 413 and body["error"]["code"] == "payload_too_large", body
    assert _count(body_gateway, keys, "cut") == 0


def test_a_declared_length_over_the_limit_is_refused_before_reading(body_gateway, keys):
    """Content-Length over the limit: 413 at once, without waiting for the body."""
    length = LIMIT_MB * 1024 * 1024 + 1
    path = "/api/db/test/runs/bulk"
    sock = _open(
        body_gateway.port, _head("POST", path, keys["rw"], f"Content-Length: {length}\r\n")
    )
    status, body = _answer(sock)
    sock.close()
    assert status == 413 and str(LIMIT_MB * 1024 * 1024) in body["error"]["message"]


def test_a_large_chunked_upload_under_the_limit_is_stored(body_gateway, keys):
    """Above the in-memory threshold the body spills to a file and still arrives whole."""
    rows = _rows("big", 15_000)  # about 1.4 MiB: spilled, under the limit
    sock = _open(
        body_gateway.port,
        _head("POST", "/api/db/test/runs/bulk", keys["rw"], "Transfer-Encoding: chunked\r\n"),
    )
    for start in range(0, len(rows), 100_000):
        piece = rows[start : start + 100_000]
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    sock.sendall(b"0\r\n\r\n")
    sock.shutdown(socket.SHUT_WR)
    status, body = _answer(sock)
    sock.close()
    assert status == 201 and body == {"stored": 15_000}, body


def test_a_body_that_stops_coming_gets_408(body_gateway, keys):
    """A declared body that never arrives in full: 408 after the deadline, in JSON."""
    head = _head("POST", "/api/db/search", keys["read"], "Content-Length: 1000\r\n")
    sock = _open(body_gateway.port, head + b'{"query":')
    status, body = _answer(sock)
    sock.close()
    assert status == 408 and body["error"]["code"] == "request_timeout"


def test_a_thousand_abandoned_bodies_hold_nothing(gateway, keys):
    """While 1,000 clients sit on unfinished bodies (10 s deadline), everyone else is answered."""
    head = _head("POST", "/api/test/db/search", keys["read"], "Content-Length: 1000\r\n")
    held = [_open(gateway.port, head + b'{"query": "') for _ in range(1000)]
    try:
        api = client(gateway, keys["read"])
        for _ in range(20):
            assert api.call("GET", "/api/db/test/runs?limit=1", timeout=5).status_code == 200
            searched = api.call("POST", "/api/test/db/search?query=bert", timeout=5)
            assert searched.status_code == 200
        assert api.call("POST", "/api/db/search", json={"query": "x"}, timeout=5).status_code == 200
    finally:
        for sock in held:
            sock.close()


def test_a_body_a_route_does_not_read_leaves_the_connection_clean(gateway, keys):
    """A GET with a 70 kB body the view ignores, then another request on the same pooled
    connection to the component: the second is answered, never a 502 (the audit's fuzzer)."""
    api = client(gateway, keys["read"])
    for _ in range(30):
        ignored = api.call("GET", "/api/db/test/performance", data=b"x" * 70_000)
        assert ignored.status_code == 200
        assert api.call("GET", "/api/db/test/migrations").status_code == 200


def test_a_worker_holds_no_more_bodies_than_its_budget(work_dir, components, keys_db, keys):
    """body_budget_mb bounds what one worker holds at once: past it, 503 with Retry-After."""
    urls = {name: components[name].url for name in NAMES}
    service = start_gateway(
        work_dir, urls, keys_db, label="budget-gateway", workers=1, body_budget_mb=1
    )
    try:
        api = client(service, keys["rw"])
        refused = api.call("POST", "/api/db/test/runs/bulk", data=_rows("budget", 20_000))
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
        assert "holding too many request bodies" in refused.json()["error"]["message"]
        stored = api.call("POST", "/api/db/test/runs/bulk", data=_rows("budget", 100))
        assert stored.status_code == 201  # the refused body's bytes were given back
    finally:
        service.stop()
