"""Only the gateway and nginx reach a component: the internal credential, and loopback otherwise."""

import socket
import subprocess
import sys

import requests

from tests.support import ServiceProcess, free_port


def test_without_a_credential_a_component_refuses_to_listen_beyond_loopback(tmp_path):
    """Development mode (no internal_token) listens on loopback only, and says why not else."""
    argv = ["component", "test", "--host", "0.0.0.0", "--port", str(free_port())]
    argv += ["--db-path", str(tmp_path / "test.duckdb")]
    result = subprocess.run(
        [sys.executable, "-m", "unified_api_server", *argv],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 with no internal_token" in result.stderr


def test_with_a_credential_only_its_holders_get_in(tmp_path):
    """Every route but /health needs X-Internal-Token, compared whole; the body is not read."""
    token = "s3cret-token"
    service = ServiceProcess.component("test", tmp_path, env={"UAS_INTERNAL_TOKEN": token})
    try:
        service.wait_ready()
        runs = f"{service.url}/api/test/db/runs"
        for headers in ({}, {"X-Internal-Token": "s3cret"}, {"X-Internal-Token": token + "x"}):
            response = requests.post(runs, json={"model_name": "m"}, headers=headers, timeout=10)
            assert response.status_code == 401
            assert "through the gateway only" in response.json()["error"]["message"]
        # A body that never comes is not waited for: the answer, then the connection ends.
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/test/db/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 401")
        good = {"X-Internal-Token": token}
        created = requests.post(runs, json={"model_name": "m"}, headers=good, timeout=10)
        assert created.status_code == 201
        assert requests.get(runs, headers=good, timeout=10).json()["count"] == 1
        assert requests.get(f"{service.url}/health", timeout=10).status_code == 200
    finally:
        service.stop()


def test_a_body_that_stops_coming_frees_its_thread(tmp_path):
    """More stalled bodies than threads: each gets 408 at the deadline, and others get in."""
    token = "s3cret-token"
    extra = ["--threads", "4", "--body-timeout", "1"]
    service = ServiceProcess.component(
        "test", tmp_path, extra_args=extra, env={"UAS_INTERNAL_TOKEN": token}
    )
    try:
        service.wait_ready()
        head = (
            "POST /api/test/db/search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            f"X-Internal-Token: {token}\r\n\r\n"
        ).encode()
        stalled = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(8)]
        for sock in stalled:
            sock.settimeout(30)
            sock.sendall(head + b'{"query": "')
        runs = requests.get(
            f"{service.url}/api/test/db/runs", headers={"X-Internal-Token": token}, timeout=30
        )
        assert runs.status_code == 200
        for sock in stalled:
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            sock.close()
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b'"request_timeout"' in answer
    finally:
        service.stop()


def test_a_bulk_body_cut_short_stores_nothing(tmp_path):
    """The client goes away after whole lines but before its Content-Length: 400, no rows."""
    service = ServiceProcess.component("test", tmp_path).wait_ready()
    try:
        line = b'{"model_name": "cut", "status": "completed"}\n'
        head = b"POST /api/test/db/runs/bulk HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
        with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
            sock.sendall(head + line * 10)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
        assert b"ended after" in answer
        runs = requests.get(f"{service.url}/api/test/db/runs", timeout=10).json()
        assert runs["count"] == 0
    finally:
        service.stop()
