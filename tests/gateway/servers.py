"""A real HTTP server standing in front of a component to inject faults (no mocks of our code).

``FaultServer`` runs inside the test process: it delays answers, echoes what it received,
swallows huge uploads, serves huge downloads, ends connections unanswered, and records when
each request came and went.
"""

import hashlib
import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
        call = [self.path, time.monotonic(), None]  # path, arrived, answered
        self.server.calls.append(call)
        try:
            self._answer()
        finally:
            call[2] = time.monotonic()

    def _answer(self):
        server = self.server
        size, digest = self._read_body()
        if server.drop > 0:  # end the connection with no answer, as a closing keep-alive does
            server.drop -= 1
            self.close_connection = True
            return
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
        if server.delay:
            server.release.wait(server.delay)
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
    """A real HTTP server that delays answers (``delay`` s) and forwards GETs to ``target``."""

    daemon_threads = True

    def __init__(self, target_url=None, delay=0.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.drop = 0  # this many next requests get no answer: their connection just ends
        self.release = threading.Event()  # set to end every injected delay at once
        self.calls = []
        self.target = None
        if target_url:
            host, _, port = target_url.split("://", 1)[1].rstrip("/").partition(":")
            self.target = (host, int(port))
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self):
        """Return the base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self):
        """End every delay in progress, inject none from now on, and forget the calls."""
        self.delay = 0.0
        self.drop = 0
        self.release.set()
        self.release = threading.Event()
        self.calls = []

    def pending(self, fragment):
        """Return the calls whose path holds ``fragment`` and that are still unanswered."""
        return [call for call in self.calls if fragment in call[0] and call[2] is None]

    def start(self):
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
