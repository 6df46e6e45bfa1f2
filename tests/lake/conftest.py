"""Fixtures of the DuckLake tests: a real PostgreSQL catalog, component replicas on it, and
nginx spreading requests over them. Skipped, with the reason, where the lake extra (duckdb
1.5.5 with its DuckLake and postgres extension wheels, psycopg) is not installed: scripts/test
runs them in the .venv-lake interpreter that has it."""

import itertools
import subprocess

import pytest

from tests.support import ServiceProcess, free_port, wait_until


def _missing():
    """Return why the lake extra is unusable here, or None."""
    try:
        import psycopg  # noqa: F401

        from unified_api_server.core.data.lake import EXTENSIONS, extension_file

        for package, _ in EXTENSIONS:
            extension_file(package)
    except Exception as exc:  # ImportError or LakeError: either way, why not
        return f"the lake extra is not installed ({exc})"
    return None


MISSING = _missing()
_NUMBERS = itertools.count(1)


def pytest_collection_modifyitems(config, items):
    """Skip this folder's tests, naming why, where the lake extra is missing."""
    if MISSING is None:
        return
    for item in items:
        if "tests/lake/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.skip(reason=MISSING))


class Lake:
    """One component's DuckLake: a fresh catalog database and Parquet folder, and replicas."""

    def __init__(self, postgres, folder, name="test"):
        self.name = name
        self.folder = folder
        self.catalog_url = postgres.create_database(f"lake_{name}_{next(_NUMBERS)}")
        self.data_path = folder / f"{name}-lake"
        self.replicas = []

    def args(self, compact_interval=0):
        """Return the storage flags every replica of this lake takes."""
        return [
            "--storage", "ducklake", "--catalog-url", self.catalog_url,
            "--data-path", str(self.data_path), "--compact-interval", str(compact_interval),
        ]  # fmt: skip

    def start(self, count=1, extra_args=(), wait=True):
        """Start ``count`` more replicas of the component (their own ports and logs)."""
        started = []
        for _ in range(count):
            folder = self.folder / f"{self.name}-replica-{len(self.replicas) + 1}"
            folder.mkdir()
            replica = ServiceProcess.component(
                self.name, folder, extra_args=[*self.args(), *extra_args]
            )
            self.replicas.append(replica)
            started.append(replica)
        if wait:
            for replica in started:
                replica.wait_ready(timeout=120)
        return started

    def stop(self):
        """Stop every replica."""
        for replica in self.replicas:
            replica.stop()


@pytest.fixture
def lake(postgres, tmp_path):
    """Return a fresh DuckLake of the Test Suite component; its replicas stop afterwards."""
    made = Lake(postgres, tmp_path)
    yield made
    made.stop()


class Balancer:
    """nginx spreading requests (WebSockets too) over replicas, as a deployment's upstream."""

    def __init__(self, folder, ports):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "".join(f"        server 127.0.0.1:{port};\n" for port in ports)
        temps = "".join(
            f"    {kind}_temp_path {folder}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (folder / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n    access_log off;\n{temps}"
            f"    upstream replicas {{\n{servers}    }}\n"
            f"    server {{\n        listen 127.0.0.1:{self.port};\n"
            "        client_max_body_size 0;\n        location / {\n"
            "            proxy_pass http://replicas;\n            proxy_http_version 1.1;\n"
            "            proxy_set_header Upgrade $http_upgrade;\n"
            '            proxy_set_header Connection "upgrade";\n'
            "            proxy_set_header Host $host;\n"
            "            proxy_read_timeout 300s;\n"
            "            proxy_next_upstream error timeout;\n        }\n    }\n}\n"
        )
        self.process = subprocess.Popen(
            ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e",
             str(folder / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self._answers, 20, message="nginx in front of the replicas")

    def _answers(self):
        import requests

        try:
            return requests.get(self.url + "/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self):
        """Stop nginx."""
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def balancer(tmp_path):
    """Return a factory of :class:`Balancer` over ports; each stops afterwards."""
    made = []

    def start(ports):
        folder = tmp_path / f"nginx-{len(made) + 1}"
        folder.mkdir()
        made.append(Balancer(folder, ports))
        return made[-1]

    yield start
    for balancer in made:
        balancer.stop()
