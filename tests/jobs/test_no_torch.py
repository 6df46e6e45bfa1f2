"""Without torch the benchmark fails at once, saying how to install it."""

import time

import requests

from tests.support import ServiceProcess, free_port


def test_benchmark_without_torch_says_how_to_install(tmp_path):
    """A run on a service whose Python cannot import torch fails with the install line."""
    hidden = tmp_path / "hide-torch" / "torch"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("torch is hidden for this test")\n')
    port = free_port()
    service = ServiceProcess(
        [
            "-m",
            "unified_api_server.components.benchmark",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db-path",
            str(tmp_path / "benchmark.duckdb"),
        ],
        port,
        tmp_path / "benchmark.log",
        env={"PYTHONPATH": str(hidden.parent)},
    )
    try:
        service.wait_healthy(timeout=60)
        run = requests.post(
            service.url + "/api/benchmark/run",
            json={"models": ["gpt2"], "batch_sizes": [1]},
            timeout=10,
        ).json()
        for _ in range(300):
            status = requests.get(
                f"{service.url}/api/benchmark/status/{run['run_id']}", timeout=10
            ).json()
            if status["status"] not in ("initializing", "running"):
                break
            time.sleep(0.1)
        assert status["status"] == "failed", status
        assert "pip install -e '.[torch]'" in status["error"]
        assert "torch==2.13.0" in status["error"]
    finally:
        service.stop()
