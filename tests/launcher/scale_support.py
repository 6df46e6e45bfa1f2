"""Helpers of the scale-out launcher tests: spaced free ports, a scaled suite, spreading."""

import json
import os
import signal

import requests

from tests.support import LauncherProcess, free_port, wait_gone, wait_until
from unified_api_server.launcher.processes import port_problem


def spaced_port(count, step=10):
    """Return a port P with P, P + step, ... (``count`` of them) all free."""
    for _ in range(50):
        port = free_port()
        if port + step * count < 65000 and all(
            port_problem("127.0.0.1", port + step * i) is None for i in range(count)
        ):
            return port
    raise RuntimeError("no free spaced ports")


def served_by(log_path, marker):
    """Tell whether a program's log holds a request carrying ``marker`` (its request id)."""
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        return marker in handle.read()


def start_scaled(tmp_path, config, extra):
    """Start the launcher with ``config`` and flags ``extra``; return it once ready."""
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(config))
    data_dir = tmp_path / "data"
    args = ["--config", str(path), "--data-dir", str(data_dir), "--start-timeout", "90", *extra]
    return LauncherProcess(args, tmp_path, tmp_path / "launcher.stderr").wait_ready()


def stop(launcher, data_dir):
    """Stop the launcher; check nothing is left."""
    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.process.wait(60) == 0
    assert wait_gone(str(data_dir)) == {}


def spread_over(url, key, logs):
    """Send requests through nginx until every program's log in ``logs`` has served one."""
    seen = set()

    def everyone():
        request_id = f"spread-{len(seen)}-{os.urandom(4).hex()}"
        headers = {"X-API-Key": key, "X-Request-ID": request_id}
        answer = requests.get(url, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        seen.update(name for name, path in logs.items() if served_by(path, request_id))
        return seen == set(logs)

    wait_until(everyone, timeout=20, interval=0.05, message=f"requests reaching {sorted(logs)}")
