"""Layered configuration: defaults, then a JSON file, then environment, then flags that were given."""

import json
import os
from dataclasses import dataclass


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names it."""


def _as_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


_PARSERS = {int: int, float: float, str: str, bool: _as_bool}


@dataclass(frozen=True)
class Setting:
    """One named setting: its type, default, help text, and whether it is a secret."""

    name: str
    type: type
    default: object
    help: str = ""
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None

    def parse(self, value, source):
        """Convert ``value`` from ``source`` to this setting's type, or raise ConfigError."""
        if value is None:
            return None
        try:
            parsed = _PARSERS[self.type](value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{self.name}: expected {self.type.__name__}, got {value!r} (from {source})"
            ) from None
        if self.minimum is not None and parsed < self.minimum:
            raise ConfigError(
                f"{self.name}: must be >= {self.minimum}, got {parsed} (from {source})"
            )
        if self.maximum is not None and parsed > self.maximum:
            raise ConfigError(
                f"{self.name}: must be <= {self.maximum}, got {parsed} (from {source})"
            )
        if self.choices is not None and parsed not in self.choices:
            raise ConfigError(
                f"{self.name}: must be one of {', '.join(map(str, self.choices))}, "
                f"got {parsed!r} (from {source})"
            )
        return parsed


def read_json_object(path):
    """Return the JSON object in the file at ``path``, or raise ConfigError naming the problem."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return data


def load_settings(settings, *, env_prefix, config_file=None, overrides=None, environ=None):
    """Resolve ``settings`` from defaults, ``config_file``, ``env_prefix``* variables and overrides.

    ``overrides`` holds command-line values; ``None`` means the flag was not given and does not
    override anything (a config file's port must survive an absent ``--port``).
    """
    environ = os.environ if environ is None else environ
    by_name = {s.name: s for s in settings}
    values = {s.name: s.default for s in settings}
    if config_file:
        data = read_json_object(config_file)
        unknown = sorted(set(data) - set(by_name))
        if unknown:
            raise ConfigError(f"config file {config_file}: unknown settings {', '.join(unknown)}")
        for name, value in data.items():
            values[name] = by_name[name].parse(value, config_file)
    for setting in settings:
        variable = f"{env_prefix}{setting.name.upper()}"
        if variable in environ:
            values[setting.name] = setting.parse(environ[variable], f"${variable}")
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = by_name[name].parse(value, f"--{name.replace('_', '-')}")
    return values


def redacted(settings, values):
    """Return ``values`` with secret settings masked, for logging."""
    secret = {s.name for s in settings if s.secret}
    return {k: ("***" if k in secret and v else v) for k, v in values.items()}
