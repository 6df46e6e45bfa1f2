"""Layered configuration: defaults, file, environment, flags that were given."""

import json

import pytest

from unified_api_server.core.config import ConfigError, Setting, load_settings, redacted

SETTINGS = (
    Setting("port", int, 8000, minimum=1, maximum=65535),
    Setting("db_path", str, "data/test.duckdb"),
    Setting("debug", bool, False),
    Setting("api_secret", str, "", secret=True),
)


def test_each_layer_overrides_the_one_before(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"port": 9000, "db_path": "file.duckdb"}))
    values = load_settings(
        SETTINGS,
        env_prefix="X_",
        config_file=config,
        environ={"X_DB_PATH": "env.duckdb", "X_DEBUG": "yes"},
        overrides={"port": None},
    )
    assert values == {"port": 9000, "db_path": "env.duckdb", "debug": True, "api_secret": ""}
    values = load_settings(
        SETTINGS, env_prefix="X_", config_file=config, environ={}, overrides={"port": "9100"}
    )
    assert values["port"] == 9100


def test_a_flag_not_given_keeps_the_config_file_port(tmp_path):
    """ORIGIN defect 8: command-line defaults always overwrote the file's ports."""
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"port": 9001}))
    values = load_settings(
        SETTINGS,
        env_prefix="X_",
        config_file=config,
        environ={},
        overrides={"port": None, "db_path": None},
    )
    assert values["port"] == 9001


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"port": "eighty"}', "port: expected int"),
        ('{"port": 70000}', "port: must be <= 65535"),
        ('{"prot": 1}', "unknown settings prot"),
        ("[1]", "must hold a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_configuration_is_named_precisely(tmp_path, content, message):
    config = tmp_path / "c.json"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(SETTINGS, env_prefix="X_", config_file=config, environ={})


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match=r"\$X_DEBUG"):
        load_settings(SETTINGS, env_prefix="X_", environ={"X_DEBUG": "perhaps"})


def test_secrets_are_redacted_for_logging():
    values = load_settings(SETTINGS, env_prefix="X_", environ={"X_API_SECRET": "s3cret"})
    assert redacted(SETTINGS, values)["api_secret"] == "***"
