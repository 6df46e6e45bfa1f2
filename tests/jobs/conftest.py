"""Real component and gateway processes for the job and WebSocket tests.

The three components share one data folder (so the Test Suite finds the generator's output), a
tests folder holds small hand-written modules whose tests take known times, and one gateway
(a single gevent worker) fronts them. Clients are real: requests and websocket-client.
"""

import json
import os

import pytest
import requests
import websocket

from tests.support import NAMES, ServiceProcess, all_started, wait_until
from unified_api_server.gateway.keys import KeyStore

SLOW_MODULE = """
MODEL_NAME = "slow-model"
import os, subprocess, sys, time
import pytest

STEP = float(os.environ.get("SLOW_STEP", "0.4"))


@pytest.mark.parametrize("index", range(4))
def test_step(index, record_property):
    time.sleep(STEP)
    record_property("step_ms", STEP * 1000)


def test_fails():
    assert 1 + 1 == 3
"""

HANG_MODULE = """
MODEL_NAME = "hang-model"
import os, subprocess, sys, time

PIDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hang.pids")


def test_hangs():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(PIDS, "w") as handle:
        handle.write(f"{os.getpid()} {sleeper.pid}")
    time.sleep(600)
"""


@pytest.fixture(scope="session")
def jobs_dir(tmp_path_factory):
    """Return the session's data folder, with a tests folder of hand-written modules."""
    root = tmp_path_factory.mktemp("jobs")
    (root / "tests").mkdir()
    (root / "tests" / "test_slow_model.py").write_text(SLOW_MODULE)
    (root / "tests" / "test_hang_model.py").write_text(HANG_MODULE)
    return root


def start_component(name, data_dir, *extra):
    """Start component ``name`` on ``data_dir`` and wait until it is healthy."""
    return ServiceProcess.component(name, data_dir, extra_args=extra).wait_ready()


@pytest.fixture(scope="session")
def components(jobs_dir):
    """Start the three components on one data folder; return name -> ServiceProcess."""
    with all_started(lambda name: start_component(name, jobs_dir), NAMES) as started:
        yield started


@pytest.fixture(scope="session")
def api_key(jobs_dir):
    """Return a read+write key in the session's key store."""
    return KeyStore(jobs_dir / "keys.sqlite3").create("jobs-tests", "read,write")


@pytest.fixture(scope="session")
def gateway(jobs_dir, components, api_key):
    """Start a gateway (one gevent worker) in front of the components."""
    urls = {name: service.url for name, service in components.items()}
    keys_db = jobs_dir / "keys.sqlite3"
    service = ServiceProcess.gateway(urls, keys_db, jobs_dir / "gateway.log", workers=1)
    try:
        yield service.wait_ready()
    finally:
        service.stop()


class Api:
    """A requests session against the gateway with the key, and WebSocket helpers."""

    def __init__(self, url, key):
        self.url = url
        self.key = key
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key

    def call(self, method, path, **kwargs):
        """Send a request to the gateway."""
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url + path, **kwargs)

    def post(self, path, body=None, **kwargs):
        """POST JSON to the gateway."""
        return self.call("POST", path, json=body, **kwargs)

    def get(self, path, **kwargs):
        """GET from the gateway."""
        return self.call("GET", path, **kwargs)

    def socket(self, path, timeout=30, **kwargs):
        """Open a WebSocket through the gateway, authenticated with the key header."""
        return websocket.create_connection(
            "ws" + self.url[4:] + path, timeout=timeout, header=[f"X-API-Key: {self.key}"], **kwargs
        )

    def wait(
        self, component, job_id, timeout=120, until=("completed", "failed", "cancelled", "timeout")
    ):
        """Poll a job's status until it is in ``until``; return the status body."""

        def ended():
            body = self.get(f"/api/{component}/status/{job_id}").json()
            return body if body["status"] in until else None

        return wait_until(ended, timeout, message=f"{component} job {job_id} in {until}")


@pytest.fixture(scope="session")
def api(gateway, api_key):
    """Return an :class:`Api` on the gateway."""
    return Api(gateway.url, api_key)


def receive_json(ws):
    """Return the next message of ``ws`` parsed as JSON."""
    return json.loads(ws.recv())


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def process_gone(pid, timeout=10.0):
    """Wait until process ``pid`` no longer exists (or is a zombie); return whether it went."""
    try:
        return wait_until(lambda: _gone(pid), timeout, message=f"process {pid} gone")
    except AssertionError:
        return False


def read_pids(path, timeout=30.0):
    """Wait for the hanging test module to write its pids; return them."""
    wait_until(
        lambda: os.path.exists(path) and os.path.getsize(path), timeout, message="hanging test"
    )
    with open(path) as handle:
        return [int(p) for p in handle.read().split()]


def close_frame(ws):
    """Read until the server's close frame; return ``(code, reason)``."""
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big"), data[2:].decode("utf-8", "replace")


def until(ws, predicate, limit=200):
    """Return the first JSON message of ``ws`` for which ``predicate`` holds."""
    for _ in range(limit):
        message = receive_json(ws)
        if predicate(message):
            return message
    raise AssertionError("no matching message")
