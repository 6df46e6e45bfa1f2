"""One settings system for every process: defaults, then a file, then environment, then flags.

A process declares its settings as a tuple of :class:`Setting`; :class:`SettingsGroup` resolves
them in four layers, each overriding the one before: the defaults, a JSON file (``--config``),
environment variables (``PREFIX_NAME``), and the command-line flags that were given. A flag
that was not given overrides nothing, so a file's port survives an absent ``--port``. Every
setting gets its flag from :meth:`SettingsGroup.options`, so flags and settings never drift.
"""

import json
import os
import shlex
from dataclasses import dataclass

import click


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


def _as_list(value):
    """Return a list of strings from a JSON list or a shell-quoted string."""
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    raise ValueError(f"not a list of strings: {value!r}")


def _as_number(kind):
    def parse(value):
        if isinstance(value, bool):  # JSON true is not the number 1
            raise ValueError(f"not a number: {value!r}")
        return kind(value)

    return parse


_PARSERS = {
    int: _as_number(int),
    float: _as_number(float),
    str: str,
    bool: _as_bool,
    list: _as_list,
}


@dataclass(frozen=True)
class Setting:
    """One named setting: its type, default, help, bounds, and whether it is a secret.

    ``default`` may be a callable taking the other resolved values, for a default derived from
    them (a database path inside the data folder). ``flag`` replaces the generated flag name.
    """

    name: str
    type: type
    default: object
    help: str = ""
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    flag: str | None = None
    env: str | None = None  # one variable for every process, instead of PREFIX_NAME
    multiple: bool = False  # a list setting whose flag repeats (--replicas a=2 --replicas b=2)

    @property
    def flag_name(self):
        """Return the command-line flag, e.g. ``--db-path``."""
        return self.flag or "--" + self.name.replace("_", "-")

    def parse(self, value, source):
        """Convert ``value`` from ``source`` to this setting's type, or raise ConfigError."""
        if value is None:
            return None
        try:
            parsed = _PARSERS[self.type](value)
        except (TypeError, ValueError):
            kind = "list of strings" if self.type is list else self.type.__name__
            raise ConfigError(
                f"{self.name}: expected {kind}, got {value!r} (from {source})"
            ) from None
        if self.choices is not None and isinstance(parsed, str):  # log levels in any case
            parsed = next((c for c in self.choices if c.lower() == parsed.lower()), parsed)
        self._check(parsed, source)
        return parsed

    def _check(self, parsed, source):
        problem = None
        if self.minimum is not None and parsed < self.minimum:
            problem = f"must be >= {self.minimum}, got {parsed}"
        elif self.maximum is not None and parsed > self.maximum:
            problem = f"must be <= {self.maximum}, got {parsed}"
        elif self.choices is not None and parsed not in self.choices:
            problem = f"must be one of {', '.join(map(str, self.choices))}, got {parsed!r}"
        if problem:
            raise ConfigError(f"{self.name}: {problem} (from {source})")

    def option(self):
        """Return the click option of this setting; absent, it stays None (overrides nothing)."""
        help_text = f"{self.help} [default: {self._default_text()}]"
        if self.type is bool:
            positive = self.flag_name
            return click.option(
                f"{positive}/--no-{positive[2:]}", self.name, default=None, help=help_text
            )
        kind = {int: int, float: float}.get(self.type, str)
        if self.choices and self.type is str:
            kind = click.Choice(self.choices, case_sensitive=False)
        if self.multiple:  # each use is one item; none given stays None
            given = lambda _context, _param, value: list(value) or None  # noqa: E731
            return click.option(
                self.flag_name, self.name, multiple=True, callback=given, help=help_text
            )
        return click.option(self.flag_name, self.name, type=kind, default=None, help=help_text)

    def _default_text(self):
        if callable(self.default):
            return getattr(self.default, "__doc__", None) or "derived"
        if self.type is list:
            return " ".join(self.default) or "none"
        return self.default


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


class SettingsGroup:
    """The settings of one kind of process, with the environment prefix they are read under."""

    def __init__(self, settings, env_prefix, read_file=read_json_object):
        self.settings = tuple(settings)
        self.env_prefix = env_prefix
        self.by_name = {s.name: s for s in self.settings}
        self._read_file = read_file

    def variable(self, setting):
        """Return the environment variable of ``setting``."""
        return setting.env or f"{self.env_prefix}{setting.name.upper()}"

    def defaults(self):
        """Return every setting at its default."""
        return self.load(environ={})

    def load(self, config_file=None, flags=None, environ=None):
        """Resolve the settings from every layer; ``flags`` maps names to given values or None."""
        environ = os.environ if environ is None else environ
        values = {}
        if config_file:
            data = self._read_file(config_file)
            unknown = sorted(set(data) - set(self.by_name))
            if unknown:
                raise ConfigError(
                    f"config file {config_file}: unknown settings {', '.join(unknown)}"
                )
            values.update({n: self.by_name[n].parse(v, config_file) for n, v in data.items()})
        for setting in self.settings:
            variable = self.variable(setting)
            if variable in environ:
                values[setting.name] = setting.parse(environ[variable], f"${variable}")
        for name, value in (flags or {}).items():
            if value is not None:
                setting = self.by_name[name]
                values[name] = setting.parse(value, setting.flag_name)
        return self._with_defaults(values)

    def load_or_exit(self, config_file=None, flags=None, check=None):
        """Load the settings for a command; on a bad value print why and exit with status 2."""
        try:
            values = self.load(config_file=config_file, flags=flags)
            return check(values) if check else values
        except ConfigError as exc:
            click.echo(f"unified-api-server: configuration error: {exc}", err=True)
            raise click.exceptions.Exit(2) from None

    def _with_defaults(self, values):
        resolved = {s.name: values[s.name] for s in self.settings if s.name in values}
        for setting in self.settings:  # plain defaults first: derived ones may read them
            if setting.name not in resolved and not callable(setting.default):
                resolved[setting.name] = setting.default
        for setting in self.settings:
            if setting.name not in resolved:
                resolved[setting.name] = setting.default(resolved)
        return {s.name: resolved[s.name] for s in self.settings}

    def options(self, function=None, *, config=True):
        """Decorate a click command with one option per setting (and ``--config``)."""
        if function is None:
            return lambda f: self.options(f, config=config)
        for setting in reversed(self.settings):
            function = setting.option()(function)
        if not config:
            return function
        return click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False),
            help="JSON file of settings (the flags given override it)",
        )(function)

    def redacted(self, values):
        """Return ``values`` with secret settings masked, for logging."""
        secret = {s.name for s in self.settings if s.secret}
        return {k: ("***" if k in secret and v else v) for k, v in values.items()}

    def log(self, logger, title, values):
        """Log the effective settings once, secrets masked."""
        logger.info("%s settings: %s", title, json.dumps(self.redacted(values), sort_keys=True))


def data_path(*parts):
    """Return a derived default: a path inside the data folder (setting ``data_dir``)."""

    def derive(values):
        return os.path.join(values["data_dir"], *parts)

    derive.__doc__ = os.path.join("DATA_DIR", *parts)
    return derive


DATA_DIR = Setting(
    "data_dir",
    str,
    "data",
    "folder of databases, keys, logs and run files (the same everywhere)",
    env="UAS_DATA_DIR",
)
INTERNAL_TOKEN = Setting(
    "internal_token",
    str,
    "",
    "credential the gateway and nginx add to every request they forward to a component "
    "(X-Internal-Token); empty: development mode, components listen on loopback only",
    secret=True,
    env="UAS_INTERNAL_TOKEN",
)
MAX_BODY_MB = Setting(
    "max_body_mb",
    int,
    512,
    "largest request body accepted (MiB); nginx, the gateway and the components use one limit",
    minimum=1,
    env="UAS_MAX_BODY_MB",
)
BODY_TIMEOUT = Setting(
    "body_timeout",
    float,
    10.0,
    "seconds a request body may take to arrive (for a large one: each 64 KiB of it)",
    minimum=0.5,
)
LOG_LEVEL = Setting(
    "log_level", str, "INFO", "log level", choices=("DEBUG", "INFO", "WARNING", "ERROR")
)
LOG_FORMAT = Setting(
    "log_format",
    str,
    "text",
    "log lines as text (time level logger: message) or json (one object per line)",
    choices=("text", "json"),
)
METRICS_DIR = Setting(
    "metrics_dir",
    str,
    "",
    "folder of the workers' Prometheus metrics files: each service uses <folder>/<service>-<port>, "
    "emptied at start; empty: a new temporary folder each start",
    env="UAS_METRICS_DIR",
)
