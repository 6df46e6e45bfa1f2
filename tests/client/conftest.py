"""Client fixtures: a real gateway in front of real test and benchmark components, with keys."""

import os
import subprocess
import sys

import pytest

from tests.support import NAMES, REPO, ServiceProcess, all_started, dead_url
from unified_api_server.gateway.keys import KeyStore

USED = ("test", "benchmark")  # the components the client's commands reach; the rest point nowhere


@pytest.fixture(scope="session")
def client_dir(tmp_path_factory):
    """Return a session-wide folder for databases, keys and logs."""
    return tmp_path_factory.mktemp("client")


@pytest.fixture(scope="session")
def keys(client_dir):
    """Return a read+write key and a read-only key of the gateway's store."""
    store = KeyStore(client_dir / "keys.sqlite3")
    return {"rw": store.create("ci", "read,write"), "read": store.create("viewer", "read")}


@pytest.fixture(scope="session")
def gateway(client_dir, keys):
    """Start the components the client uses and a gateway in front of them."""

    def start(name):
        return ServiceProcess.component(name, client_dir).wait_ready()

    with all_started(start, USED) as started:
        urls = {name: started[name].url if name in started else dead_url() for name in NAMES}
        service = ServiceProcess.gateway(
            urls, client_dir / "keys.sqlite3", client_dir / "gateway.log", workers=2
        ).wait_ready(statuses=(200, 503))
        yield service
        service.stop()


@pytest.fixture
def uas_env(gateway, keys, monkeypatch):
    """Set UAS_URL and UAS_API_KEY to the live gateway and a read+write key; return them."""
    env = {"UAS_URL": gateway.url, "UAS_API_KEY": keys["rw"]}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


SAMPLE_TESTS = """
import pytest


def test_passes():
    assert 1 + 1 == 2


def test_fails():
    assert 1 == 2, "outputs differ"


@pytest.mark.skip(reason="needs a GPU")
def test_skipped():
    pass


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_errors(broken):
    pass


def test_sum_speed(benchmark):
    benchmark.pedantic(sum, args=(range(100),), rounds=5, iterations=1)
"""


def plugin_args():
    """Return the flags loading the plugin: none where the installed entry point loads it."""
    from importlib.metadata import entry_points

    installed = any(ep.name == "uas" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "unified_api_server.pytest_plugin"]


def run_pytest(folder, *args, env=None):
    """Run pytest on the sample module in ``folder`` in a child process; return the result."""
    path = folder / "test_sample.py"
    if not path.exists():
        path.write_text(SAMPLE_TESTS)
    environ = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
    for name in ("UAS_URL", "UAS_API_KEY", "PYTEST_ADDOPTS"):
        if env is None or name not in env:
            environ.pop(name, None)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rN", *args, path.name]
    return subprocess.run(command, cwd=folder, env=environ, capture_output=True, text=True)


@pytest.fixture(scope="session")
def reports(tmp_path_factory):
    """Run the sample tests for real; return the JUnit XML and --benchmark-json reports' paths."""
    folder = tmp_path_factory.mktemp("reports")
    result = run_pytest(folder, "--junitxml=report.xml", "--benchmark-json=bench.json")
    assert result.returncode == 1, result.stdout + result.stderr
    return {"junit": folder / "report.xml", "benchmark": folder / "bench.json"}
