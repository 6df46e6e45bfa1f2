"""Slow, abandoned and oversized bodies through nginx and the gateway, in the running suite."""

import json
import socket

import pytest
import requests

from tests.support import read_answer

from .conftest import BODY_LIMIT_MB

ENTRIES = ["gateway", "nginx"]


def _port(suite, entry):
    if entry == "nginx" and not suite.has_nginx:
        pytest.skip("nginx is not installed")
    return suite.ports[entry]


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_chunked_upload_over_the_limit_gets_413_in_json(suite, entry):
    """No Content-Length: the upload is cut at max_body_mb, and the answer is the envelope."""
    port = _port(suite, entry)
    head = (
        "POST /api/db/test/runs/bulk HTTP/1.1\r\nHost: x\r\n"
        f"X-API-Key: {suite.keys['write']}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    line = b'{"model_name": "e2e-cut", "status": "completed"}\n'
    chunk = line * (1024 * 1024 // len(line))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for _ in range(BODY_LIMIT_MB * 2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, body = read_answer(sock)
    assert status == 413, body[:300]
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    runs = requests.get(
        suite.url(entry) + "/api/db/test/runs?model_name=e2e-cut",
        headers={"X-API-Key": suite.keys["read"]},
        timeout=30,
    )
    assert runs.json()["count"] == 0


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_thousand_abandoned_bodies_delay_no_one(suite, entry):
    """1,000 clients stall mid-body on a read route; other clients are still answered."""
    port = _port(suite, entry)
    head = (
        "POST /api/test/db/search HTTP/1.1\r\nHost: x\r\n"
        f"X-API-Key: {suite.keys['read']}\r\nContent-Length: 1000\r\n\r\n"
        '{"query": "'
    ).encode()
    held = []
    try:
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(head)
            held.append(sock)
        session = requests.Session()
        session.headers["X-API-Key"] = suite.keys["read"]
        for _ in range(10):
            runs = session.get(suite.url(entry) + "/api/test/db/runs?limit=1", timeout=5)
            assert runs.status_code == 200
            found = session.post(suite.url(entry) + "/api/test/db/search?query=bert", timeout=5)
            assert found.status_code == 200
    finally:
        for sock in held:
            sock.close()
