"""The running suite: auth matrix through nginx and the gateway, restarts, a stopped component."""

import http.client
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from tests.support import wait_until
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.registry import BY_NAME

from .conftest import COMPONENTS

ENTRIES = ["gateway", "nginx"]


def raw_request(suite, entry, method, target, key=None, bearer=False, body=None):
    """Send ``target`` exactly as written (no client-side normalisation); return (status, body)."""
    if entry == "nginx" and not suite.has_nginx:
        pytest.skip("nginx is not installed")
    connection = http.client.HTTPConnection("127.0.0.1", suite.ports[entry], timeout=30)
    headers = {}
    if key:
        headers["Authorization" if bearer else "X-API-Key"] = f"Bearer {key}" if bearer else key
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, data


MISSING_ID = str(uuid.UUID(int=0x1234, version=4))

# (method, target, key role, expected status); the same answers through nginx and the gateway.
MATRIX = [
    ("GET", "/api/db/test/runs?limit=1", None, 401),
    ("GET", "/api/test/db/runs?limit=1", None, 401),  # defect 6: the same data without a key
    ("GET", "/api/db/overview", None, 401),
    ("GET", "/api/db/model/bert-base-uncased", None, 401),
    ("POST", "/api/db/search?query=bert&limit=5", None, 401),
    ("GET", "/api/benchmark/db/runs?limit=1", None, 401),
    ("GET", "/api/db/test/runs?limit=1", "bogus", 401),
    ("GET", "/api/db/test/runs?limit=1", "read", 200),
    ("GET", "/api/test/db/runs?limit=1", "read", 200),
    ("GET", "/api/db/generator/tasks?limit=1", "read", 200),
    ("GET", "/api/db/benchmark/models/stats", "read", 200),
    ("GET", "/api/db/overview", "read", 200),
    ("POST", "/api/db/search?query=bert&limit=5", "read", 200),
    ("POST", "/api/test/db/search?query=bert", "read", 200),
    ("DELETE", f"/api/db/test/run/{MISSING_ID}", "read", 403),
    ("DELETE", f"/api/test/db/run/{MISSING_ID}", "read", 403),
    ("POST", "/api/db/test/batches", "read", 403),
    ("DELETE", f"/api/db/test/run/{MISSING_ID}", "write", 404),
    ("DELETE", f"/api/benchmark/db/run/{MISSING_ID}", "write", 404),
    ("GET", "/api/db/nothing-here", "read", 404),
]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("method, target, role, expected", MATRIX)
def test_auth_matrix(suite, entry, method, target, role, expected):
    key = suite.keys.get(role, role)
    status, body = raw_request(suite, entry, method, target, key)
    assert status == expected, body
    if status >= 400:
        assert body["error"]["status"] == status  # one JSON error shape, nginx's own included


@pytest.mark.parametrize("entry", ENTRIES)
def test_bearer_token(suite, entry):
    status, _ = raw_request(
        suite, entry, "GET", "/api/db/test/runs?limit=1", suite.keys["read"], bearer=True
    )
    assert status == 200


@pytest.mark.parametrize("entry", ENTRIES)
def test_health_needs_no_key(suite, entry):
    status, body = raw_request(suite, entry, "GET", "/health")
    assert status == 200, body
    assert body["status"] == "ok"


BYPASS_SPELLINGS = [
    "/api/test//db/runs",
    "/api/test/%64b/runs",
    "/api/test/./db/runs",
    "/api/x/../test/db/runs",
    "/api/db/test/%2e%2e/%2e%2e/test/db/runs",
    "/api/test%2fdb/runs",
    "/API/test/db/runs",
    "/api/TEST/db/runs",
    "//api/test/db/runs",
]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("target", BYPASS_SPELLINGS)
def test_bypass_spellings_need_a_key(suite, entry, target):
    status, _ = raw_request(suite, entry, "GET", target)
    assert status in (400, 401, 404), status


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("target", BYPASS_SPELLINGS)
def test_bypass_spellings_do_not_widen_a_read_key(suite, entry, target):
    delete_target = target.replace("runs", f"run/{MISSING_ID}")
    status, _ = raw_request(suite, entry, "DELETE", delete_target, suite.keys["read"])
    assert status in (400, 403, 404), status
    assert status != 404 or "/API/" in target or "/TEST/" in target


def test_revoked_key_stops_within_five_seconds(suite):
    entry = "nginx" if suite.has_nginx else "gateway"
    store = KeyStore(os.path.join(suite.data_dir, "keys.sqlite3"))
    key = store.create(f"e2e-revoke-{entry}", "read")
    target = "/api/db/test/runs?limit=1"
    assert raw_request(suite, entry, "GET", target, key)[0] == 200
    argv = ["keys", "revoke", f"e2e-revoke-{entry}", "--data-dir", suite.data_dir]
    result = subprocess.run(
        [sys.executable, "-m", "unified_api_server", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    time.sleep(5)  # the promise: 5 s after revoking, the key works nowhere
    assert raw_request(suite, entry, "GET", target, key)[0] == 401


class Writer:
    """Writes runs through the gateway without pause; remembers every one acknowledged."""

    def __init__(self, suite, model):
        self.model = model
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = suite.keys["write"]
        self.url = suite.url("gateway") + "/api/db/test/runs"
        self.acknowledged = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def _write(self):
        while not self.stop.is_set():
            run_id = f"kill-{uuid.uuid4().hex}"
            try:
                answer = self.session.post(
                    self.url, json={"model_name": self.model, "run_id": run_id}, timeout=30
                )
            except requests.RequestException:
                continue
            if answer.status_code == 201:
                self.acknowledged.append(run_id)

    def finish(self):
        """Stop writing; return the ids the service acknowledged."""
        self.stop.set()
        self.thread.join(60)
        return self.acknowledged


def _children(pid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(entry))
            except (OSError, ValueError):
                pass
    return pids


def _serves(suite):
    try:
        status, _ = raw_request(
            suite, "gateway", "GET", "/api/db/test/runs?limit=1", suite.keys["read"]
        )
        return status == 200
    except OSError:
        return False


def _stored_ids(suite, model):
    """Return the ids of every run of ``model``, walking every page."""
    ids, cursor = set(), None
    while True:
        query = f"model_name={model}&limit=1000" + (f"&cursor={cursor}" if cursor else "")

        def fetch(query=query):  # the gateway may still hold the component down (503) a moment
            answer = requests.get(
                f"{suite.url('gateway')}/api/db/test/runs?{query}",
                headers={"X-API-Key": suite.keys["read"]},
                timeout=30,
            )
            return answer.json() if answer.status_code == 200 else None

        page = wait_until(fetch, timeout=15, interval=0.5, message="runs listed")
        ids |= {row["run_id"] for row in page["runs"]}
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


@pytest.mark.parametrize("target", ["master", "worker", "both"])
def test_any_single_kill_9_is_recovered_within_15_s_with_every_row(suite, target):
    """kill -9 of the component's master, its worker or both, three times each, while a
    client writes: it serves again within 15 s every time, and no acknowledged row is lost."""
    for round_number in range(3):
        writer = Writer(suite, f"kill-9-{target}-{round_number}")
        wait_until(lambda w=writer: len(w.acknowledged) >= 5, message="writes acknowledged")
        master = suite.rpc().getProcessInfo("test_api")["pid"]
        worker = _children(master)[0]
        victims = {"master": [master], "worker": [worker], "both": [master, worker]}[target]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)

        def replaced(old=worker):  # a new worker (under a new master, if it died too) serves
            now = suite.rpc().getProcessInfo("test_api")["pid"]
            workers = _children(now) if now else []
            return workers and old not in workers and _serves(suite)

        # The promise: serving again within 15 s of the kill.
        wait_until(replaced, timeout=15, interval=0.1, message="a new worker serving")
        acknowledged = writer.finish()
        lost = set(acknowledged) - _stored_ids(suite, writer.model)
        assert lost == set(), f"{len(lost)} acknowledged runs lost"


def _overview_complete(suite):
    overview = requests.get(
        suite.url("gateway") + "/api/db/overview",
        headers={"X-API-Key": suite.keys["read"]},
        timeout=30,
    ).json()
    return overview.get("completed") is True


def test_stopped_component_gives_an_incomplete_overview(suite):
    # Every gateway worker sees every component first (one an earlier test killed may still be
    # marked down in a worker for its cool-down).
    for _ in range(4):
        wait_until(lambda: _overview_complete(suite), timeout=15, message="a complete overview")
    stopped = suite.supervisorctl("stop", "benchmark_api")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    try:
        response = requests.get(
            suite.url("gateway") + "/api/db/overview",
            headers={"X-API-Key": suite.keys["read"]},
            timeout=30,
        )
        assert response.status_code == 200
        body = response.json()
        assert body["completed"] is False
        assert body["test_stats"] is not None
        assert requests.get(suite.url("gateway") + "/health", timeout=10).status_code == 503
        if suite.has_nginx:
            status, body = raw_request(
                suite, "nginx", "GET", "/api/db/benchmark/runs?limit=1", suite.keys["read"]
            )
            assert status == 502 and body["error"]["status"] == 502
    finally:
        started = suite.supervisorctl("start", "benchmark_api")
        assert started.returncode == 0, started.stdout + started.stderr
        suite.wait_healthy("benchmark_api", timeout=30)
        suite.wait_healthy("gateway", timeout=30)


def test_supervisord_runs_one_program_per_process(suite):
    infos = {info["name"]: info for info in suite.rpc().getAllProcessInfo()}
    expected = {*COMPONENTS, "gateway"}
    if suite.has_nginx:
        expected.add("nginx")
    assert set(infos) == expected
    assert all(info["statename"] == "RUNNING" for info in infos.values())


def test_launcher_log_file(suite):
    with open(os.path.join(suite.data_dir, "unified_api_server.log"), encoding="utf-8") as handle:
        text = handle.read()
    assert "configuration:" in text
    assert suite.admin_key not in text  # keys are never logged


@pytest.mark.parametrize("component", COMPONENTS)
def test_components_refuse_anyone_but_the_gateway(suite, component):
    """Straight at a component, with or without an API key: 401, unless the internal
    credential is there; its /health stays open."""
    url = suite.url(component)
    assert os.stat(suite.run_dir).st_mode & 0o077 == 0  # the run folder is private
    for headers in ({}, {"X-API-Key": suite.keys["admin"]}, {"X-Internal-Token": "guess"}):
        response = requests.get(f"{url}/api/test/db/runs", headers=headers, timeout=30)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
    assert requests.get(f"{url}/health", timeout=30).status_code == 200
    token = _internal_token(suite)
    name = component.removesuffix("_api")
    path = f"/api/{name}/db/{BY_NAME[name].entities}?limit=1"
    response = requests.get(url + path, headers={"X-Internal-Token": token}, timeout=30)
    assert response.status_code == 200, response.text


def _internal_token(suite):
    """Read the run's credential where the launcher put it (private to this user)."""
    with open(os.path.join(suite.run_dir, "supervisord.conf"), encoding="utf-8") as handle:
        return re.search(r'UAS_INTERNAL_TOKEN="([^"]+)"', handle.read()).group(1)


def test_nothing_in_the_data_folder_is_readable_by_others(suite):
    """The data folder is 0700; databases, keys, counters and logs are 0600 (nothing for others)."""
    opened = []
    for folder, dirs, files in os.walk(suite.data_dir):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) or stat.S_ISSOCK(os.stat(path).st_mode):
                continue
            if os.stat(path).st_mode & 0o077:
                opened.append((path, oct(os.stat(path).st_mode & 0o777)))
    assert os.stat(suite.data_dir).st_mode & 0o777 == 0o700
    assert opened == []
