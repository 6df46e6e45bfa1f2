"""Launcher config: the original file, precedence, enabled false, args (ORIGIN defects 8, 9)."""

import json
import logging

import pytest

from unified_api_server.core.settings import ConfigError
from unified_api_server.launcher.config import load, with_shorthands
from unified_api_server.launcher.render import service_commands
from unified_api_server.launcher.run import run_command as run

# The configuration file of the seed document, verbatim (old module names and all).
SEED_CONFIG = {
    "test_api": {
        "enabled": True,
        "port": 8000,
        "host": "0.0.0.0",
        "module": "refactored_test_suite.integration.test_api_integration",
        "args": ["--server", "--db-path", "/path/to/test_db.duckdb"],
    },
    "generator_api": {
        "enabled": True,
        "port": 8001,
        "host": "0.0.0.0",
        "module": "refactored_generator_suite.generator_api_server",
        "args": ["--db-path", "/path/to/generator_db.duckdb"],
    },
    "benchmark_api": {
        "enabled": True,
        "port": 8002,
        "host": "0.0.0.0",
        "module": "refactored_benchmark_suite.benchmark_api_server",
        "args": ["--db-path", "/path/to/benchmark_db.duckdb"],
    },
    "gateway": {"enabled": True, "port": 8080, "host": "0.0.0.0"},
}


@pytest.fixture
def config_file(tmp_path):
    """Return a function writing a JSON config file and returning its path."""

    def write(data):
        path = tmp_path / "config.json"
        path.write_text(json.dumps(data))
        return str(path)

    return write


def plan_from(argv, cwd, environ=None):
    """Parse launcher flags as ``unified-api-server run`` does and resolve the plan."""
    params = run.make_context("run", list(argv)).params
    config_file, host, nginx = params.pop("config_file"), params.pop("host"), params.pop("nginx")
    flags = with_shorthands(params, host, nginx)
    return load(config_file, flags, cwd=str(cwd), environ=environ or {})


def test_defaults(tmp_path):
    plan = plan_from([], tmp_path)
    assert [plan[n]["port"] for n in ("test_api", "generator_api", "benchmark_api", "gateway")] == [
        8000,
        8001,
        8002,
        8080,
    ]
    assert plan["data_dir"] == str(tmp_path / "data")
    assert plan["test_api"]["db_path"] == str(tmp_path / "data" / "test.duckdb")
    assert plan["keys_db"] == str(tmp_path / "data" / "keys.sqlite3")
    assert not plan["nginx"]["enabled"]


def test_config_file_ports_survive_absent_flags(tmp_path, config_file):
    """Defect 8: the file's ports took no effect because CLI defaults overwrote them."""
    path = config_file({"gateway": {"port": 9080}, "test_api": {"port": 9000}})
    plan = plan_from(["--config", path], tmp_path)
    assert plan["gateway"]["port"] == 9080
    assert plan["test_api"]["port"] == 9000
    assert plan["generator_api"]["port"] == 8001


def test_flag_overrides_file_only_when_given(tmp_path, config_file):
    path = config_file({"gateway": {"port": 9080}, "test_api": {"port": 9000}})
    plan = plan_from(["--config", path, "--gateway-port", "7080"], tmp_path)
    assert plan["gateway"]["port"] == 7080
    assert plan["test_api"]["port"] == 9000


def test_partial_entry_keeps_the_rest_of_the_entry(tmp_path, config_file):
    """Defect 8: a partial service entry wiped the rest of that entry (shallow merge)."""
    path = config_file({"test_api": {"port": 9000}})
    plan = plan_from(["--config", path], tmp_path)
    assert plan["test_api"] == dict(plan["test_api"], enabled=True, host="127.0.0.1", port=9000)


def test_enabled_false_leaves_the_service_out(tmp_path, config_file):
    path = config_file({"generator_api": {"enabled": False}})
    plan = plan_from(["--config", path], tmp_path)
    commands = service_commands(plan, "python")
    assert "generator_api" not in commands
    assert set(commands) == {"test_api", "benchmark_api", "gateway"}


def test_args_db_path_is_honoured(tmp_path, config_file):
    """Defect 9: --db-path was ignored."""
    path = config_file({"test_api": {"args": ["--db-path", "dbs/t.duckdb", "--threads", "4"]}})
    plan = plan_from(["--config", path], tmp_path)
    argv = service_commands(plan, "python")["test_api"]
    db_path = argv[argv.index("--db-path") + 1]
    assert db_path == str(tmp_path / "dbs" / "t.duckdb")
    assert argv.count("--db-path") == 1
    assert argv[-2:] == ["--threads", "4"]


def test_seed_config_loads_with_warnings(tmp_path, config_file, caplog):
    path = config_file(SEED_CONFIG)
    with caplog.at_level(logging.WARNING):
        plan = plan_from(["--config", path], tmp_path)
    commands = service_commands(plan, "python")
    assert commands["test_api"][:5] == ["python", "-m", "unified_api_server", "component", "test"]
    assert "--server" not in commands["test_api"]
    assert plan["benchmark_api"]["db_path"] == "/path/to/benchmark_db.duckdb"
    assert plan["gateway"]["host"] == "0.0.0.0"
    assert "ignoring module 'refactored_test_suite" in caplog.text
    assert all("refactored" not in " ".join(argv) for argv in commands.values())
    assert "ignoring obsolete argument --server" in caplog.text


def test_host_flag_sets_gateway_and_nginx_not_components(tmp_path):
    plan = plan_from(["--host", "0.0.0.0", "--nginx", "9443"], tmp_path)
    assert plan["gateway"]["host"] == plan["nginx"]["host"] == "0.0.0.0"
    assert plan["test_api"]["host"] == "127.0.0.1"
    assert plan["nginx"]["enabled"] and plan["nginx"]["port"] == 9443


def test_gateway_command_points_at_the_components(tmp_path):
    argv = ["--test-api-port", "9100", "--workers", "3", "--log-level", "debug"]
    plan = plan_from(argv, tmp_path)
    argv = service_commands(plan, "python")["gateway"]
    assert argv[argv.index("--test-url") + 1] == "http://127.0.0.1:9100"
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--log-level") + 1] == "DEBUG"
    assert argv[argv.index("--keys-db") + 1] == plan["keys_db"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"gateway": {"port": 8000}}, "gateway_port 8000 is also the port of test_api"),
        ({"test_api": {"port": "eighty"}}, "test_api_port: expected int, got 'eighty'"),
        ({"test_api": {"port": 70000}}, "test_api_port: must be <= 65535, got 70000"),
        ({"test_api": {"enabled": "perhaps"}}, "test_api_enabled: expected bool"),
        ({"test_api": {"port": True}}, "test_api_port: expected int, got True"),
        ({"test_api": {"prot": 1}}, "test_api: unknown keys prot"),
        ({"tests_api": {}}, "unknown settings tests_api"),
        ({"test_api": {"args": ["--db-path"]}}, "--db-path needs a value"),
        ({"log_level": "loud"}, "log_level: must be one of"),
        ({"start_timeout": 0}, "start_timeout: must be >= 1"),
        ({"workers": 2}, "unknown settings workers"),
        ({"generator_api": {"args": ["--db-path", "data/test.duckdb"]}}, "is also used by"),
        ({"gateway": {"enabled": False}, "nginx": {"enabled": True}}, "nginx needs the gateway"),
    ],
)
def test_invalid_configuration_is_named(tmp_path, config_file, data, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        plan_from(["--config", config_file(data)], tmp_path)


def test_unreadable_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        plan_from(["--config", str(tmp_path / "missing.json")], tmp_path)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        plan_from(["--config", str(tmp_path / "bad.json")], tmp_path)


def test_environment_sits_between_file_and_flags(tmp_path, config_file):
    """UAS_* variables override the file; a flag given overrides both."""
    path = config_file({"gateway": {"port": 9080}})
    environ = {"UAS_GATEWAY_PORT": "9180", "UAS_TEST_API_PORT": "9100"}
    plan = plan_from(["--config", path], tmp_path, environ)
    assert (plan["gateway"]["port"], plan["test_api"]["port"]) == (9180, 9100)
    plan = plan_from(["--config", path, "--gateway-port", "9280"], tmp_path, environ)
    assert plan["gateway"]["port"] == 9280


def test_every_setting_has_a_flag(tmp_path):
    """Each launcher setting is a flag of ``run``, named after it."""
    names = {option.name for option in run.params}
    from unified_api_server.launcher.config import LAUNCHER

    assert {s.name for s in LAUNCHER.settings} <= names
    argv = ["--test-api-host", "127.0.0.2", "--no-benchmark-api-enabled", "--start-timeout", "9"]
    plan = plan_from(argv, tmp_path)
    assert plan["test_api"]["host"] == "127.0.0.2" and not plan["benchmark_api"]["enabled"]
    assert plan["start_timeout"] == 9.0
