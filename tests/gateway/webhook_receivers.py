"""Small real HTTP servers that receive alert webhooks: one records, one fails twice, one hangs."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records every POST body; answers each alert's first ``failures`` POSTs with 500;
    ``hang`` holds each POST until :meth:`release` (or a minute)."""

    def __init__(self, failures=0, hang=False):
        self.bodies = []
        self.failures = failures
        self.refused = {}  # alert id -> POSTs answered 500
        self.hang = hang
        self.waiting = threading.Event()  # a hung POST has arrived
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.hang:
                    receiver.waiting.set()
                    receiver.released.wait(60)
                alert_id = body["alert"]["alert_id"]
                refused = receiver.refused.get(alert_id, 0)
                status = 500 if refused < receiver.failures else 200
                if status == 500:
                    receiver.refused[alert_id] = refused + 1
                else:
                    receiver.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self):
        """Serve in a background thread; return self."""
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def release(self):
        """Let every hung POST answer."""
        self.released.set()

    def stop(self):
        """Stop serving."""
        self.release()
        self.server.shutdown()

    def actions(self, alert_id):
        """Return the actions received for ``alert_id``, in order."""
        return [b["action"] for b in self.bodies if b["alert"]["alert_id"] == alert_id]
