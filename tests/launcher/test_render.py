"""The deployment files are what the renderers produce, and supervisord reads them."""

import getpass
import os
import shutil

import pytest
from supervisor.options import ServerOptions

from unified_api_server.launcher.config import load
from unified_api_server.launcher.render import render_deploy_files, render_nginx

from .conftest import ROOT, nginx_check


@pytest.mark.parametrize("name", ["nginx.conf", "supervisord.conf"])
def test_deploy_files_match_the_renderers(name):
    with open(os.path.join(ROOT, "deploy", name), encoding="utf-8") as handle:
        committed = handle.read()
    assert committed == render_deploy_files()[name], (
        f"deploy/{name} is stale: run scripts/render-deploy-configs"
    )


def test_deploy_supervisord_conf_is_valid_for_supervisord(tmp_path, monkeypatch):
    monkeypatch.setenv("UAS_INTERNAL_TOKEN", "from-the-environment")  # supervisord passes it on
    text = render_deploy_files()["supervisord.conf"]
    for folder in ("/var/log/unified-api-server", "/run/unified-api-server"):
        text = text.replace(folder, str(tmp_path))
    text = text.replace("user=unified", f"user={getpass.getuser()}")
    path = tmp_path / "supervisord.conf"
    path.write_text(text)
    options = ServerOptions()
    options.configfile = str(path)
    section = options.read_config(str(path))
    programs = {group.name: group.process_configs[0] for group in section.process_group_configs}
    assert set(programs) == {"test_api", "generator_api", "benchmark_api", "gateway", "nginx"}
    for name, program in programs.items():
        assert program.stopasgroup and program.killasgroup, name
        assert program.autorestart, name
    benchmark = programs["benchmark_api"].command
    assert "--db-path /var/lib/unified-api-server/benchmark.duckdb" in benchmark
    assert "-m unified_api_server gateway " in programs["gateway"].command
    assert "-m unified_api_server component test " in programs["test_api"].command
    assert programs["test_api"].environment["UAS_INTERNAL_TOKEN"] == "from-the-environment"


def test_launcher_and_deploy_nginx_differ_only_in_filled_values():
    deploy = render_deploy_files()["nginx.conf"].splitlines()
    plan = load(flags={"nginx_enabled": True, "nginx_port": 18088, "gateway_port": 18080})
    launcher = render_nginx(plan).splitlines()
    assert len(deploy) == len(launcher)
    differing = [(a, b) for a, b in zip(deploy, launcher) if a != b]
    filled = ("listen", "server ", "user", "include ")
    assert all(any(word in a for word in filled) or a.startswith("#") for a, _ in differing), (
        differing
    )


@pytest.mark.skipif(
    shutil.which("nginx") is None,
    reason="nginx is not installed (scripts/install-system-deps installs it)",
)
def test_launcher_nginx_conf_passes_nginx_t(tmp_path):
    plan = load(flags={"nginx_enabled": True, "nginx_port": 18088}, environ={})
    result = nginx_check(render_nginx(plan), tmp_path)
    assert result.returncode == 0, result.stderr
