"""A real flask-sock app standing in for a component's ``/api/test/ws/{id}`` (under gunicorn)."""

import json
import sys

from flask import Flask
from flask_sock import Sock

from unified_api_server.core.server import serve


def create_app():
    """Build the stand-in: status on connect, ping/pong, cancel, and a custom close code."""
    app = Flask(__name__)
    sock = Sock(app)

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @sock.route("/api/test/ws/<job_id>")
    def status(ws, job_id):
        ws.send(json.dumps({"run_id": job_id, "status": "running"}))
        while True:
            message = ws.receive()
            if message == "ping":
                ws.send(json.dumps({"pong": True}))
            elif message == "cancel":
                ws.send(json.dumps({"run_id": job_id, "status": "cancelled"}))
            elif message == "bye":
                ws.close(reason=4000, message="bye")
                return

    return app


if __name__ == "__main__":
    serve(create_app, host="127.0.0.1", port=int(sys.argv[1]), worker_class="gevent", workers=1)
