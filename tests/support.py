"""The one way tests start real processes, wait for things, and speak raw HTTP.

:class:`ServiceProcess` runs ``python -m unified_api_server ...`` (a component, the gateway) or
any module as a real subprocess (gunicorn and all) on a free port, in its own process group,
and stops the whole group. :func:`wait_until` is the one polling loop.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import requests

from unified_api_server.registry import COMPONENTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = tuple(c.name for c in COMPONENTS)


def free_port():
    """Return a TCP port that is free on the loopback interface right now."""
    return free_ports(1)[0]


def free_ports(count):
    """Return ``count`` distinct TCP ports free on the loopback interface right now."""
    probes = []
    for _ in range(count):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        probes.append(probe)
    ports = [probe.getsockname()[1] for probe in probes]
    for probe in probes:
        probe.close()
    return ports


def wait_until(predicate, timeout=30.0, interval=0.1, message="condition"):
    """Return ``predicate()``'s first truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached after {timeout} s")
        time.sleep(interval)


def next_events(ws, kind, count, timeout=20):
    """Return the next ``count`` events of type ``kind`` (``change``, ``alert``) a WebSocket
    change stream sends, skipping the others."""
    found = []
    while len(found) < count:
        text = ws.receive(timeout=timeout)
        assert text is not None, f"only {found} arrived"
        event = json.loads(text)
        if event["type"] == kind:
            found.append(event)
    return found


def processes_mentioning(text):
    """Return ``{pid: cmdline}`` of live processes whose command line contains ``text``."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != b"Z":
            found[int(entry)] = cmdline
    return found


def wait_gone(text, timeout=10.0):
    """Wait until no process mentions ``text``; return what is left."""
    try:
        wait_until(lambda: not processes_mentioning(text), timeout, 0.2)
    except AssertionError:
        pass
    return processes_mentioning(text)


def raw_request(port, method, target, headers=None, body=None, timeout=10):
    """Send ``target`` exactly as given (no normalisation); return (status, headers, body)."""
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


def read_answer(sock):
    """Read a raw HTTP answer until the server closes; return ``(status, body bytes)``."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def rss_kb(pid):
    """Return the resident set size of ``pid`` in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class ServiceProcess:
    """A service run as a real subprocess on ``port``, in its own process group.

    Every one started is remembered, so the session can stop any a failing test left behind.
    """

    started = []

    def __init__(self, args, port, log_path, env=None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = str(log_path)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        ServiceProcess.started.append(self)

    @classmethod
    def component(cls, name, data_dir, port=None, extra_args=(), env=None):
        """Start component ``name`` on its own DuckDB file in ``data_dir``."""
        port = port or free_port()
        args = [
            "-m", "unified_api_server", "component", name, "--host", "127.0.0.1",
            "--port", str(port), "--db-path", str(data_dir / f"{name}.duckdb"), *extra_args,
        ]  # fmt: skip
        return cls(args, port, data_dir / f"{name}-{port}.log", env)

    @classmethod
    def gateway(cls, urls, keys_db, log_path, env=None, **settings):
        """Start a gateway in front of ``urls`` (component name -> base URL)."""
        port = free_port()
        args = [
            "-m",
            "unified_api_server",
            "gateway",
            "--port",
            str(port),
            "--keys-db",
            str(keys_db),
        ]
        for name, url in urls.items():
            args += [f"--{name}-url", url]
        # Its own rate-limit counters; no default rate (the rate-limit tests give keys theirs).
        limits_db = os.path.join(os.path.dirname(str(keys_db)), f"limits-{port}.sqlite3")
        settings = {"limits_db": limits_db, "default_rate": 0, **settings}
        for name, value in settings.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        return cls(args, port, log_path, env)

    def wait_ready(self, path="/health", statuses=(200,), timeout=60.0):
        """Wait until ``path`` answers one of ``statuses``; fail with the log if it exits."""

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited {self.process.returncode}:\n{self.log_tail()}")
            try:
                return raw_request(self.port, "GET", path, timeout=2)[0] in statuses
            except OSError:
                return False

        try:
            wait_until(ready, timeout, message=f"{self.url}{path} answering {statuses}")
        except AssertionError:
            self.stop()
            raise AssertionError(f"not ready:\n{self.log_tail()}") from None
        return self

    def get(self, path, **kwargs):
        """GET ``path`` from the service with requests."""
        kwargs.setdefault("timeout", 30)
        return requests.get(self.url + path, **kwargs)

    def log_tail(self, lines=40):
        """Return the last lines of the service's log."""
        try:
            with open(self.log_path, "rb") as handle:
                return b"\n".join(handle.read().splitlines()[-lines:]).decode(errors="replace")
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

    def signal(self, signum):
        """Send ``signum`` to the whole process group (gunicorn master and workers)."""
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout=15):
        """Stop the service and wait for every process of its group to end."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(5)
        self.signal(signal.SIGKILL)  # stray workers, if any


class LauncherProcess:
    """``unified-api-server run ARGS`` as a real process; its output is read as it comes."""

    def __init__(self, args, cwd, stderr_path):
        self.lines = []
        self.stderr_path = stderr_path
        with open(stderr_path, "w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "unified_api_server", "run", *args],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_ready(self, timeout=120.0):
        """Wait for "is ready"; fail with the launcher's output if it exits or never says it."""

        def ready():
            if self.process.poll() is not None:
                return "exited"
            return any("is ready" in line for line in self.lines)

        try:
            outcome = wait_until(ready, timeout, 0.2, message="the suite ready")
        except AssertionError:
            outcome = "timed out"
        if outcome is not True:
            self.process.kill()
            with open(self.stderr_path, encoding="utf-8") as handle:
                stderr = handle.read()
            raise RuntimeError(f"suite did not start ({outcome}):\n{''.join(self.lines)}{stderr}")
        return self

    def admin_key(self):
        """Return the first admin key the launcher printed."""
        return next(line.strip() for line in self.lines if line.strip().startswith("uas_"))


@contextmanager
def all_started(start, names):
    """Yield ``{name: start(name)}``; stop every one started, even when a later start fails."""
    started = {}
    try:
        for name in names:
            started[name] = start(name)
        yield started
    finally:
        for service in started.values():
            service.stop()


def dead_url():
    """Return a loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
