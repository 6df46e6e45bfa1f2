"""Real processes and real HTTP servers for the gateway tests (no mocks of our own code).

``Service`` runs a component or gateway as a subprocess on a free port. ``FaultServer`` is a small
HTTP server run inside the test process that stands in front of a component to inject faults for
real: it delays answers, echoes what it received, swallows huge uploads, and serves huge downloads.
"""

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    """Return a TCP port that is free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raw_request(port, method, target, headers=None, body=None, timeout=10):
    """Send ``target`` exactly as given (no client-side normalisation); return (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class Service:
    """A subprocess (``python -m module args``) listening on ``port``, started in its own group."""

    def __init__(self, module, args, port, log_path, env=None):
        self.module = module
        self.args = list(args)
        self.port = port
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.process = None

    @property
    def url(self):
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path="/health", timeout=40):
        """Start the process and wait until ``ready_path`` answers (any status below 500 or 503)."""
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited early:\n{self.log_tail()}")
            try:
                status, _, _ = raw_request(self.port, "GET", ready_path, timeout=2)
                if status in (200, 503):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.module} did not become ready:\n{self.log_tail()}")

    def log_tail(self, lines=40):
        """Return the end of the process's log."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def child_pids(self):
        """Return the pids of the process's direct children (gunicorn workers)."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                        fields = handle.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.process.pid:
                    pids.append(int(entry))
        return pids

    def stop(self):
        """Stop the process group this service started (SIGTERM, then SIGKILL)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass


def rss_kb(pid):
    """Return the resident set size of ``pid`` in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        """Stay quiet."""

    def _read_body(self):
        """Read the request body (Content-Length or chunked) in blocks; return (size, sha256)."""
        digest, size = hashlib.sha256(), 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                length = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if length == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = length
                while left:
                    block = self.rfile.read(min(left, 1 << 16))
                    digest.update(block)
                    size += len(block)
                    left -= len(block)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                block = self.rfile.read(min(left, 1 << 16))
                if not block:
                    break
                digest.update(block)
                size += len(block)
                left -= len(block)
        return size, digest.hexdigest()

    def _handle(self):
        server = self.server
        size, digest = self._read_body()
        path, _, query = self.path.partition("?")
        if path.endswith("/source"):
            total = int(query.partition("bytes=")[2] or 0)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            block = b"x" * (1 << 16)
            while total > 0:
                self.wfile.write(block[: min(total, len(block))])
                total -= len(block)
            return
        delay = server.delay
        if delay:
            time.sleep(delay)
        if path.endswith("/echo") or server.target is None:
            body = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body_size": size,
                    "body_sha256": digest,
                }
            ).encode()
            self.send_response(int(self.headers.get("X-Echo-Status") or 200))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Custom-Hop", "dropped")
            self.send_header("Connection", "X-Custom-Hop")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        connection = http.client.HTTPConnection(server.target[0], server.target[1], timeout=30)
        try:
            connection.request(self.command, self.path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        self.send_response(response.status)
        self.send_header("Content-Type", response.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle


class FaultServer(ThreadingHTTPServer):
    """A real HTTP server that delays answers (``delay`` seconds) and forwards GETs to ``target``."""

    daemon_threads = True

    def __init__(self, target_url=None, delay=0.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.target = None
        if target_url:
            host, _, port = target_url.split("://", 1)[1].rstrip("/").partition(":")
            self.target = (host, int(port))
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self):
        """Return the base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self):
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
