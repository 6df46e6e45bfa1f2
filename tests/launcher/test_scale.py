"""``--gateways N`` and ``--replicas COMPONENT=N``: the plan, the rendered files, and a real
suite of two gateways on a PostgreSQL key store behind nginx (and, where the lake extra is
installed, two replicas of a component on DuckLake)."""

import json
import os
import shutil
import signal
import subprocess

import pytest
import requests

from tests.gateway.keystores import fresh_url
from tests.support import LauncherProcess, free_port, wait_gone, wait_until
from unified_api_server.core.settings import ConfigError
from unified_api_server.launcher.config import LAUNCHER, plan_from
from unified_api_server.launcher.processes import port_problem
from unified_api_server.launcher.render import render_nginx, service_commands

NGINX = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
LAKE_ARGS = ["--storage", "ducklake", "--catalog-url", "postgresql://u@db/lake"]


def plan(tmp_path, environ=None, **flags):
    """Return the launch plan of ``flags`` (nginx on), read without the caller's environment."""
    flags = {"data_dir": str(tmp_path), "nginx_enabled": True, **flags}
    return plan_from(LAUNCHER.load(flags=flags, environ=environ or {}), cwd=str(tmp_path))


def test_replicas_need_ducklake_and_say_so(tmp_path):
    """``--replicas benchmark=2`` on a DuckDB file is refused, naming the way out."""
    with pytest.raises(ConfigError, match="benchmark=2 needs storage = ducklake"):
        plan(tmp_path, replicas=["benchmark=2"])
    for bad in ("benchmark", "bench=2", "benchmark=0", "benchmark=two"):
        with pytest.raises(ConfigError, match="expected COMPONENT=N"):
            plan(tmp_path, replicas=[bad])


def test_several_processes_need_nginx_in_front(tmp_path):
    """Without nginx nothing would balance over several gateways: refused, saying so."""
    with pytest.raises(ConfigError, match="need nginx in front"):
        plan(tmp_path, gateways=2, nginx_enabled=False)


def test_each_process_has_its_own_port_and_program(tmp_path):
    """Gateways on PORT + 10 (i - 1), replicas on PORT + 10 i; the gateway uses the balancer."""
    scaled = plan(tmp_path, gateways=2, replicas=["benchmark=2"], benchmark_api_args=LAKE_ARGS)
    commands = service_commands(scaled, "python")
    assert {"gateway-1", "gateway-2", "benchmark_api-1", "benchmark_api-2"} <= set(commands)
    assert "gateway" not in commands and "benchmark_api" not in commands
    ports = {name: argv[argv.index("--port") + 1] for name, argv in commands.items()}
    assert ports["gateway-1"] == "8080" and ports["gateway-2"] == "8090"
    assert ports["benchmark_api-1"] == "8012" and ports["benchmark_api-2"] == "8022"
    gateway = commands["gateway-2"]
    assert gateway[gateway.index("--benchmark-url") + 1] == "http://127.0.0.1:8002"
    nginx = render_nginx(scaled, token_include="/nonexistent/token.conf")
    for address in ("8080", "8090", "8012", "8022"):
        assert f"server 127.0.0.1:{address} max_fails=3" in nginx
    assert "listen 127.0.0.1:8002;" in nginx


def test_a_port_taken_by_a_replica_is_named(tmp_path):
    """A replica's port that is another service's is refused with both names."""
    with pytest.raises(ConfigError, match="nginx_port 8090 is also the port of gateway-2"):
        plan(tmp_path, gateways=2, nginx_port=8090)


@NGINX
def test_the_scaled_nginx_conf_passes_nginx_t(tmp_path):
    """nginx accepts the rendered upstreams and the component balancer."""
    scaled = plan(tmp_path, gateways=3, replicas=["test=2"], test_api_args=LAKE_ARGS)
    token = tmp_path / "token.conf"
    token.write_text('default "x";\n')
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx(scaled, token_include=str(token)))
    result = subprocess.run(
        ["nginx", "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


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


@NGINX
def test_two_gateways_on_postgres_keys_serve_behind_nginx(tmp_path, postgres):
    """--gateways 2 with keys_url: both answer with the first key, nginx spreads over both."""
    gateway_port, nginx_port = spaced_port(2), free_port()
    config = {
        "generator_api": {"enabled": False},
        "benchmark_api": {"enabled": False},
        "test_api": {"port": free_port()},
        "gateway": {"port": gateway_port},
    }
    keys = ["--keys-url", fresh_url(postgres), "--gateways", "2", "--nginx", str(nginx_port)]
    launcher = start_scaled(tmp_path, config, keys)
    try:
        key = launcher.admin_key()
        for port in (gateway_port, gateway_port + 10):
            answer = requests.get(
                f"http://127.0.0.1:{port}/api/db/test/runs?limit=1",
                headers={"X-API-Key": key},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
        run_dir = tmp_path / "data" / "run"
        logs = {name: run_dir / f"{name}.log" for name in ("gateway-1", "gateway-2")}
        spread_over(f"http://127.0.0.1:{nginx_port}/api/db/overview", key, logs)
    finally:
        stop(launcher, tmp_path / "data")


def _lake_missing():
    try:
        from tests.lake.conftest import MISSING
    except ImportError as exc:
        return f"the ducklake storage is not here ({exc})"
    return MISSING


@NGINX
@pytest.mark.skipif(_lake_missing() is not None, reason=str(_lake_missing()))
def test_two_replicas_of_a_component_serve_behind_nginx(tmp_path, postgres):
    """--replicas benchmark=2 on DuckLake: nginx spreads the gateway's forwards over both."""
    benchmark_port, nginx_port = spaced_port(3), free_port()
    catalog = postgres.create_database(f"scale_lake_{os.getpid()}")
    lake = ["--storage", "ducklake", "--catalog-url", catalog]
    lake += ["--data-path", str(tmp_path / "benchmark-lake"), "--compact-interval", "0"]
    config = {
        "generator_api": {"enabled": False},
        "test_api": {"enabled": False},
        "benchmark_api": {"port": benchmark_port, "args": lake},
        "gateway": {"port": free_port()},
    }
    flags = ["--replicas", "benchmark=2", "--nginx", str(nginx_port)]
    launcher = start_scaled(tmp_path, config, flags)
    try:
        key = launcher.admin_key()
        run_dir = tmp_path / "data" / "run"
        logs = {name: run_dir / f"{name}.log" for name in ("benchmark_api-1", "benchmark_api-2")}
        # Through nginx's pass-through and through the gateway's own forward (its view).
        spread_over(f"http://127.0.0.1:{nginx_port}/api/db/benchmark/runs?limit=1", key, logs)
        gateway = f"http://127.0.0.1:{config['gateway']['port']}/api/db/benchmark/runs?limit=1"
        answer = requests.get(gateway, headers={"X-API-Key": key}, timeout=10)
        assert answer.status_code == 200, answer.text  # the gateway's forward, via the balancer
        for name in logs:  # each replica answers its own health check too
            port = benchmark_port + 10 * int(name[-1])
            assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        stop(launcher, tmp_path / "data")
