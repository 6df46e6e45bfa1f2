"""``--gateways N`` and ``--replicas COMPONENT=N``: the plan, the rendered files, and a real
suite of two gateways on a PostgreSQL key store behind nginx (and, where the lake extra is
installed, two replicas of a component on DuckLake: tests/lake/test_launcher_replicas.py)."""

import shutil

import pytest
import requests

from tests.gateway.keystores import fresh_url
from tests.launcher.conftest import nginx_check
from tests.launcher.scale_support import spaced_port, spread_over, start_scaled, stop
from tests.support import free_port, processes_mentioning
from unified_api_server.core.settings import ConfigError
from unified_api_server.launcher.config import LAUNCHER, plan_from
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
    result = nginx_check(render_nginx(scaled, token_include=str(token)), tmp_path)
    assert result.returncode == 0, result.stderr


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
    url = fresh_url(postgres)
    keys = ["--keys-url", url, "--gateways", "2", "--nginx", str(nginx_port)]
    launcher = start_scaled(tmp_path, config, keys)
    try:
        key = launcher.admin_key()
        # The URL may hold a password: it reaches the gateways in their environment, not argv.
        assert set(processes_mentioning(url)) <= {launcher.process.pid}
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
