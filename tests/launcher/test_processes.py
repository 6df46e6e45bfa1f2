"""The launcher with real supervisord and gunicorn: failures are named, nothing is left behind.

ORIGIN defects 1 and 7: the old launcher reported a service "started" because it lived one second,
and left its children running when it failed.
"""

import json
import os
import signal
import socket

import requests

from tests.support import LauncherProcess, free_ports, processes_mentioning, wait_gone

ONLY_TEST_COMPONENT = {
    "generator_api": {"enabled": False},
    "benchmark_api": {"enabled": False},
    "gateway": {"enabled": False},
}


def write_config(tmp_path, data):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_failing_service_is_named_and_nothing_is_left(tmp_path, run_launcher):
    (port,) = free_ports(1)
    data = dict(ONLY_TEST_COMPONENT, test_api={"port": port, "args": ["--no-such-option"]})
    data_dir = tmp_path / "data"
    status, stdout, stderr = run_launcher(
        "--config",
        write_config(tmp_path, data),
        "--data-dir",
        str(data_dir),
        "--start-timeout",
        "40",
    )
    assert status == 1
    assert "test_api failed to start" in stderr
    assert "--no-such-option" in stderr  # the tail of its log says why
    assert "is ready" not in stdout
    assert wait_gone(str(data_dir)) == {}
    with open(data_dir / "unified_api_server.log", encoding="utf-8") as handle:
        assert "test_api failed to start" in handle.read()


def test_service_that_never_gets_healthy_times_out(tmp_path, run_launcher):
    """A process that lives but never answers its health check with 200 is not "started"."""
    test_port, gateway_port, nobody = free_ports(3)
    data = dict(ONLY_TEST_COMPONENT, test_api={"port": test_port})
    # The gateway runs, but looks for the test component where nobody serves: its /health is 503.
    data["gateway"] = {
        "enabled": True,
        "port": gateway_port,
        "args": ["--test-url", f"http://127.0.0.1:{nobody}"],
    }
    data_dir = tmp_path / "data"
    status, stdout, stderr = run_launcher(
        "--config",
        write_config(tmp_path, data),
        "--data-dir",
        str(data_dir),
        "--start-timeout",
        "8",
    )
    assert status == 1
    assert "gateway failed to start (not healthy after 8 s" in stderr
    assert "answered 503" in stderr
    assert "is ready" not in stdout
    assert wait_gone(str(data_dir)) == {}


def test_port_in_use_fails_before_starting_anything(tmp_path, run_launcher):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, _, stderr = run_launcher(
            "--config",
            write_config(tmp_path, ONLY_TEST_COMPONENT),
            "--test-api-port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        )
    assert status == 1
    assert f"test_api: port {port} on 127.0.0.1 is already in use" in stderr
    assert not (tmp_path / "data" / "run" / "supervisord.conf").exists()


def test_configuration_error_exits_2(tmp_path, run_launcher):
    status, _, stderr = run_launcher("--config", write_config(tmp_path, {"gateway": {"port": 0}}))
    assert status == 2
    assert "configuration error: gateway_port: must be >= 1" in stderr


def test_ctrl_c_stops_everything(tmp_path):
    (port,) = free_ports(1)
    data_dir = tmp_path / "data"
    data = dict(ONLY_TEST_COMPONENT, test_api={"port": port})
    args = ["--config", write_config(tmp_path, data), "--data-dir", str(data_dir)]
    launcher = LauncherProcess(args, tmp_path, tmp_path / "launcher.stderr").wait_ready()
    process = launcher.process
    try:
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        children = processes_mentioning(str(data_dir))
        assert any("unified_api_server component test" in cmd for cmd in children.values())
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert wait_gone(str(data_dir)) == {}
    assert not os.path.exists(data_dir / "run" / "supervisord.pid")
