"""Start real service processes on free ports for tests, and stop them without leftovers."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import requests

COMPONENT_MODULES = {
    "test": "unified_api_server.components.test",
    "generator": "unified_api_server.components.generator",
    "benchmark": "unified_api_server.components.benchmark",
}


def free_port():
    """Return a TCP port that is free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count):
    """Return ``count`` distinct TCP ports free on the loopback interface right now."""
    sockets = []
    for _ in range(count):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        sockets.append(probe)
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


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
    deadline = time.monotonic() + timeout
    left = processes_mentioning(text)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_mentioning(text)
    return left


class ServiceProcess:
    """A service started as a real subprocess (gunicorn and all), stopped as a process group."""

    def __init__(self, args, port, log_path, env=None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    @classmethod
    def component(cls, name, data_dir, port=None, extra_args=()):
        """Start component ``name`` on its own DuckDB file in ``data_dir``."""
        port = port or free_port()
        args = [
            "-m",
            COMPONENT_MODULES[name],
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db-path",
            str(data_dir / f"{name}.duckdb"),
            *extra_args,
        ]
        return cls(args, port, data_dir / f"{name}-{port}.log")

    def wait_healthy(self, path="/health", timeout=30.0):
        """Wait until ``path`` answers 200; raise with the log tail if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url + path, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"service not healthy after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines=30):
        """Return the last lines of the service's log."""
        self._log.flush()
        with open(self.log_path, "rb") as handle:
            return b"\n".join(handle.read().splitlines()[-lines:]).decode(errors="replace")

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
        self._log.close()


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
