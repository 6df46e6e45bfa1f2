"""Without torch the benchmark fails at once, saying how to install it."""

import requests

from tests.support import ServiceProcess, wait_until


def test_benchmark_without_torch_says_how_to_install(tmp_path):
    """A run on a service whose Python cannot import torch fails with the install line."""
    hidden = tmp_path / "hide-torch" / "torch"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("torch is hidden for this test")\n')
    service = ServiceProcess.component(
        "benchmark", tmp_path, env={"PYTHONPATH": str(hidden.parent)}
    )
    try:
        service.wait_ready()
        run = requests.post(
            service.url + "/api/benchmark/run",
            json={"models": ["gpt2"], "batch_sizes": [1]},
            timeout=10,
        ).json()

        def ended():
            status = service.get(f"/api/benchmark/status/{run['run_id']}").json()
            return status if status["status"] not in ("initializing", "running") else None

        status = wait_until(ended, message="the benchmark to end")
        assert status["status"] == "failed", status
        assert "pip install -e '.[torch]'" in status["error"]
        assert "torch==2.13.0" in status["error"]
    finally:
        service.stop()
