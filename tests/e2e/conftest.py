"""One real suite for the end-to-end tests: the launcher, supervisord, gunicorn and nginx.

The suite starts once per session on free ports in a temporary data dir, loads a small demo data
set through nginx, and is stopped at the end; its teardown fails if any process is left behind.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import xmlrpc.client
from dataclasses import dataclass, field

import pytest
import requests

from tests.support import LauncherProcess, free_ports, wait_gone, wait_until
from unified_api_server.registry import COMPONENTS as REGISTERED

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPONENTS = tuple(c.service for c in REGISTERED)
DEMO_SEED = 7
DEMO_SCALE = "small"
BODY_LIMIT_MB = 16  # small enough for a test to pass it
NGINX_MISSING = "nginx is not installed (scripts/install-system-deps installs it)"


@dataclass
class Suite:
    """A running suite: its URLs, keys and control."""

    process: subprocess.Popen
    data_dir: str
    ports: dict
    admin_key: str
    output: list = field(default_factory=list)
    keys: dict = field(default_factory=dict)

    def url(self, service):
        """Return the base URL of ``service`` ("gateway", "nginx", "test_api", ...)."""
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def run_dir(self):
        """Return the run folder (supervisord.conf, logs)."""
        return os.path.join(self.data_dir, "run")

    @property
    def has_nginx(self):
        """Tell whether nginx runs in front."""
        return "nginx" in self.ports

    def rpc(self):
        """Return supervisord's XML-RPC interface."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.run_dir}/supervisor.sock")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def supervisorctl(self, *args):
        """Run supervisorctl against the suite; return its CompletedProcess."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "supervisor.supervisorctl",
                "-c",
                os.path.join(self.run_dir, "supervisord.conf"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def wait_healthy(self, service, timeout=30.0):
        """Wait until ``service``'s /health answers 200."""

        def healthy():
            try:
                return requests.get(self.url(service) + "/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, 0.2, message=f"{service} healthy")


def _start_suite(data_dir, tmp_root):
    names = ["gateway", *COMPONENTS]
    if shutil.which("nginx"):
        names.append("nginx")
    ports = dict(zip(names, free_ports(len(names))))
    config = {name: {"port": ports[name]} for name in ("gateway", *COMPONENTS)}
    config["max_body_mb"] = BODY_LIMIT_MB
    config["gateway"]["args"] = ["--default-rate", "0"]  # rate tests give their keys a rate
    config_path = os.path.join(tmp_root, "suite.json")
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    args = ["--config", config_path, "--data-dir", data_dir, "--start-timeout", "90"]
    if "nginx" in ports:
        args += ["--nginx", str(ports["nginx"])]
    launcher = LauncherProcess(args, tmp_root, os.path.join(tmp_root, "launcher.stderr"))
    launcher.wait_ready()
    return Suite(launcher.process, data_dir, ports, launcher.admin_key(), launcher.lines)


def _stop_suite(suite):
    suite.process.send_signal(signal.SIGTERM)
    try:
        status = suite.process.wait(60)
    except subprocess.TimeoutExpired:
        suite.process.kill()
        status = "killed after 60 s"
    left = wait_gone(suite.data_dir)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert status == 0, f"launcher exit status {status}"
    assert left == {}, f"processes left after the launcher stopped: {left}"


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    """Start the whole suite once, load demo data through it, and stop it at the end."""
    tmp_root = str(tmp_path_factory.mktemp("e2e"))
    suite = _start_suite(os.path.join(tmp_root, "data"), tmp_root)
    try:
        from unified_api_server.gateway.keys import KeyStore

        store = KeyStore(os.path.join(suite.data_dir, "keys.sqlite3"))
        suite.keys = {
            "admin": suite.admin_key,
            "read": store.create("e2e-reader", "read"),
            "write": store.create("e2e-writer", "read,write"),
        }
        entry = suite.url("nginx" if suite.has_nginx else "gateway")
        argv = ["demo-data", "--url", entry, "--data-dir", suite.data_dir]
        argv += ["--scale", DEMO_SCALE, "--seed", str(DEMO_SEED)]
        result = subprocess.run(
            [sys.executable, "-m", "unified_api_server", *argv],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        yield suite
    finally:
        _stop_suite(suite)


@pytest.fixture
def needs_nginx(suite):
    """Skip when nginx is not installed."""
    if not suite.has_nginx:
        pytest.skip(NGINX_MISSING)
    return suite
