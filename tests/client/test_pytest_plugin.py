"""The pytest plugin: a real pytest session stores its results in a real gateway, or warns."""

import configparser
import pathlib
import subprocess
import sys
import uuid

import pytest

from tests.client.conftest import plugin_args, run_pytest
from tests.support import REPO, dead_url
from unified_api_server.client import Client

EXPECTED_STEPS = {
    "test_sample.py::test_passes": "passed",
    "test_sample.py::test_fails": "failed",
    "test_sample.py::test_skipped": "skipped",
    "test_sample.py::test_errors": "error",
    "test_sample.py::test_sum_speed": "passed",
}


def test_the_package_installs_the_plugin_for_pytest():
    config = configparser.ConfigParser()
    config.read(pathlib.Path(REPO, "setup.cfg"))
    entry = config["options.entry_points"]["pytest11"].strip()
    assert entry == "uas = unified_api_server.pytest_plugin"


def test_loading_the_plugin_imports_no_http_library():
    """A suite that monkey-patches with gevent in its conftest imports requests only after."""
    code = (
        "import sys, unified_api_server.pytest_plugin; "
        "print(sorted(m for m in ('requests', 'urllib3', 'ssl') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_without_its_options_the_plugin_does_nothing(tmp_path, gateway):
    plain = run_pytest(tmp_path, "-p", "no:uas" if not plugin_args() else "no:nothing")
    with_plugin = run_pytest(tmp_path, *plugin_args(), env={"UAS_URL": gateway.url})
    assert with_plugin.returncode == plain.returncode == 1
    said = [line for line in with_plugin.stdout.splitlines() if not line.startswith("plugins:")]
    assert not any("unified-api-server" in line or "UAS" in line for line in said)
    assert with_plugin.stderr == ""


def test_a_session_is_stored_as_one_run_with_a_step_per_test(tmp_path, gateway, keys):
    model = f"plugin-{uuid.uuid4().hex[:8]}"
    result = run_pytest(
        tmp_path, *plugin_args(), f"--uas-url={gateway.url}", f"--uas-model={model}",
        "--uas-hardware=cpu,cuda", "--uas-test-type=integration",
        env={"UAS_API_KEY": keys["rw"]},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "WARNING" not in output
    with Client(gateway.url, keys["read"]) as client:
        (listed,) = list(client.list("test", model_name=model))
        run = client.get("test", listed["run_id"])
        benchmarks = [
            client.get("benchmark", b["run_id"]) for b in client.list("benchmark", model_name=model)
        ]
    assert f"stored test run {run['run_id']} (failed)" in output
    assert run["status"] == "failed"
    assert run["hardware"] == ["cpu", "cuda"]
    assert run["test_type"] == "integration"
    assert run["results"] == {
        "tests_passed": 2, "tests_failed": 1, "tests_skipped": 1, "tests_errors": 1,
    }  # fmt: skip
    steps = {step["name"]: step for step in run["steps"]}
    assert {name: step["status"] for name, step in steps.items()} == EXPECTED_STEPS
    assert "outputs differ" in steps["test_sample.py::test_fails"]["message"]
    assert "fixture broke" in steps["test_sample.py::test_errors"]["message"]
    assert steps["test_sample.py::test_skipped"]["message"] == "needs a GPU"
    for step in steps.values():
        assert step["duration"] >= 0
        assert step["started_at"] <= step["completed_at"]
        assert run["started_at"] <= step["started_at"] <= run["completed_at"]
    (bench,) = benchmarks
    assert "stored 1 benchmark runs (1 new)" in output
    assert bench["tags"]["benchmark"] == "test_sample.py::test_sum_speed"
    assert bench["hardware"] == "cpu,cuda"
    assert bench["metrics"]["rounds"]["value"] == 5


def test_a_passing_session_is_a_completed_run(tmp_path, gateway, keys):
    model = f"plugin-{uuid.uuid4().hex[:8]}"
    result = run_pytest(
        tmp_path, *plugin_args(), f"--uas-url={gateway.url}", f"--uas-model={model}",
        "-k", "passes or skipped", env={"UAS_API_KEY": keys["rw"]},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    with Client(gateway.url, keys["read"]) as client:
        (run,) = list(client.list("test", model_name=model))
        assert client.get("test", run["run_id"])["steps"][0]["status"] == "passed"
    assert run["status"] == "completed"
    assert run["hardware"] == ["cpu"] and run["test_type"] == "pytest"
    assert run["results"]["tests_passed"] == 1 and run["results"]["tests_skipped"] == 1


@pytest.mark.parametrize("where", ["unreachable", "refusing"])
@pytest.mark.parametrize("selection", ["not fails and not errors", "test_"])
def test_a_server_that_fails_is_a_warning_and_never_changes_the_exit_status(
    tmp_path, gateway, keys, where, selection
):
    own = run_pytest(tmp_path, "-k", selection)
    url = dead_url() if where == "unreachable" else gateway.url
    key = keys["read"]  # the read-only key may not create runs: the gateway answers 403
    result = run_pytest(
        tmp_path, *plugin_args(), f"--uas-url={url}", "--uas-model=m", "-k", selection,
        env={"UAS_API_KEY": key},
    )  # fmt: skip
    assert result.returncode == own.returncode == (0 if selection.startswith("not") else 1)
    assert f"WARNING: test run not stored at {url}" in result.stdout
    expected = "cannot reach" if where == "unreachable" else "lacks the 'test:write' scope"
    assert expected in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
