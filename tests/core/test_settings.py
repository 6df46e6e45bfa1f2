"""The one settings system: defaults, file, environment, flags given; flags generated."""

import json

import click
import pytest
from click.testing import CliRunner

from unified_api_server.core.settings import (
    DATA_DIR,
    ConfigError,
    Setting,
    SettingsGroup,
    data_path,
)

GROUP = SettingsGroup(
    (
        DATA_DIR,
        Setting("port", int, 8000, minimum=1, maximum=65535),
        Setting("db_path", str, data_path("test.duckdb")),
        Setting("debug", bool, False),
        Setting("api_secret", str, "", secret=True),
        Setting("args", list, []),
    ),
    env_prefix="X_",
)


def test_each_layer_overrides_the_one_before(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"port": 9000, "db_path": "file.duckdb"}))
    values = GROUP.load(
        config_file=config,
        environ={"X_DB_PATH": "env.duckdb", "X_DEBUG": "yes"},
        flags={"port": None},
    )
    assert values["port"] == 9000 and values["db_path"] == "env.duckdb" and values["debug"]
    values = GROUP.load(config_file=config, environ={}, flags={"port": "9100"})
    assert values["port"] == 9100


def test_a_flag_not_given_keeps_the_config_file_port(tmp_path):
    """ORIGIN defect 8: command-line defaults always overwrote the file's ports."""
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"port": 9001}))
    values = GROUP.load(config_file=config, environ={}, flags={"port": None, "db_path": None})
    assert values["port"] == 9001


def test_derived_defaults_follow_the_data_dir():
    """A path inside the data folder moves with --data-dir unless it is given itself."""
    assert GROUP.load(environ={})["db_path"] == "data/test.duckdb"
    assert GROUP.load(environ={}, flags={"data_dir": "/srv/x"})["db_path"] == "/srv/x/test.duckdb"
    given = GROUP.load(environ={}, flags={"data_dir": "/srv/x", "db_path": "/a.duckdb"})
    assert given["db_path"] == "/a.duckdb"


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"port": "eighty"}', "port: expected int"),
        ('{"port": 70000}', "port: must be <= 65535"),
        ('{"port": true}', "port: expected int"),
        ('{"args": {"a": 1}}', "args: expected list of strings"),
        ('{"prot": 1}', "unknown settings prot"),
        ("[1]", "must hold a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_configuration_is_named_precisely(tmp_path, content, message):
    config = tmp_path / "c.json"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        GROUP.load(config_file=config, environ={})


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match=r"\$X_DEBUG"):
        GROUP.load(environ={"X_DEBUG": "perhaps"})


def test_secrets_are_redacted_for_logging():
    values = GROUP.load(environ={"X_API_SECRET": "s3cret"})
    assert GROUP.redacted(values)["api_secret"] == "***"


def test_every_setting_is_a_flag_and_absent_flags_override_nothing(tmp_path):
    """The generated options: one per setting, None when not given, bool as --x/--no-x."""
    seen = {}

    @click.command()
    @GROUP.options
    def command(config_file, **flags):
        seen.update(GROUP.load(config_file=config_file, flags=flags, environ={}))

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"port": 9001, "debug": True}))
    result = CliRunner().invoke(command, ["--config", str(config), "--data-dir", "/d"])
    assert result.exit_code == 0, result.output
    assert (seen["port"], seen["debug"], seen["db_path"]) == (9001, True, "/d/test.duckdb")
    CliRunner().invoke(command, ["--config", str(config), "--no-debug", "--port", "7"])
    assert (seen["port"], seen["debug"]) == (7, False)
    help_text = CliRunner().invoke(command, ["--help"]).output
    for flag in ("--data-dir", "--port", "--db-path", "--debug / --no-debug", "--api-secret"):
        assert flag in help_text
