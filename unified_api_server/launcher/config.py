"""Launcher configuration: defaults, deep-merged with a JSON file, then the flags given."""

import copy
import logging
import os
import shlex

from unified_api_server.core.config import ConfigError, read_json_object

log = logging.getLogger(__name__)

COMPONENTS = ("test_api", "generator_api", "benchmark_api")
SERVICES = COMPONENTS + ("gateway", "nginx")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Python modules that serve each entry; the seed's config named modules of the old system.
MODULES = {
    "test_api": "unified_api_server.components.test",
    "generator_api": "unified_api_server.components.generator",
    "benchmark_api": "unified_api_server.components.benchmark",
    "gateway": "unified_api_server.gateway",
}
# Component name in URLs (/api/test/...) and in the gateway's --test-url style flags.
URL_NAMES = {"test_api": "test", "generator_api": "generator", "benchmark_api": "benchmark"}
# Flags of the old system that mean nothing now; dropped from `args` with a warning.
OBSOLETE_ARGS = {"--server": "the old test module needed it to serve instead of running its tests"}

DEFAULTS = {
    "data_dir": "data",
    "log_level": "INFO",
    "test_api": {"enabled": True, "host": "127.0.0.1", "port": 8000, "args": []},
    "generator_api": {"enabled": True, "host": "127.0.0.1", "port": 8001, "args": []},
    "benchmark_api": {"enabled": True, "host": "127.0.0.1", "port": 8002, "args": []},
    "gateway": {"enabled": True, "host": "127.0.0.1", "port": 8080, "workers": 2, "args": []},
    "nginx": {"enabled": False, "host": "127.0.0.1", "port": 8088},
}
_ENTRY_KEYS = {
    "test_api": {"enabled", "host", "port", "args", "module"},
    "generator_api": {"enabled", "host", "port", "args", "module"},
    "benchmark_api": {"enabled", "host", "port", "args", "module"},
    "gateway": {"enabled", "host", "port", "args", "module", "workers"},
    "nginx": {"enabled", "host", "port"},
}


def deep_merge(base, override):
    """Return ``base`` with ``override`` merged in; nested dicts merge key by key, not wholesale."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_config_file(path):
    """Load the launcher's JSON config file, or raise ConfigError naming the problem."""
    data = read_json_object(path)
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown entries {', '.join(unknown)} "
            f"(known: {', '.join(DEFAULTS)})"
        )
    for name in SERVICES:
        entry = data.get(name)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise ConfigError(f"config file {path}: {name} must be an object")
        extra = sorted(set(entry) - _ENTRY_KEYS[name])
        if extra:
            raise ConfigError(
                f"config file {path}: {name}: unknown keys {', '.join(extra)} "
                f"(known: {', '.join(sorted(_ENTRY_KEYS[name]))})"
            )
    return data


def flag_overrides(options):
    """Turn parsed launcher flags into a config fragment; flags left at None override nothing."""
    fragment = {}
    ports = {
        "gateway": options.get("gateway_port"),
        "test_api": options.get("test_api_port"),
        "generator_api": options.get("generator_api_port"),
        "benchmark_api": options.get("benchmark_api_port"),
    }
    for name, port in ports.items():
        if port is not None:
            fragment.setdefault(name, {})["port"] = port
    if options.get("host") is not None:
        # --host is where clients connect: the gateway, and nginx when it runs.
        fragment.setdefault("gateway", {})["host"] = options["host"]
        fragment.setdefault("nginx", {})["host"] = options["host"]
    if options.get("nginx") is not None:
        fragment["nginx"] = dict(fragment.get("nginx", {}), enabled=True, port=options["nginx"])
    if options.get("workers") is not None:
        fragment.setdefault("gateway", {})["workers"] = options["workers"]
    for key in ("data_dir", "log_level"):
        if options.get(key) is not None:
            fragment[key] = options[key]
    return fragment


def _check_port(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{name}.port: expected an integer 1..65535, got {value!r}")


def _split_args(name, args):
    """Return (db_path or None, other args) from a service's ``args``; drop obsolete ones."""
    if isinstance(args, str):
        args = shlex.split(args)
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        raise ConfigError(f"{name}.args: expected a list of strings, got {args!r}")
    args = [str(a) for a in args]
    db_path, rest, index = None, [], 0
    while index < len(args):
        arg = args[index]
        if arg in OBSOLETE_ARGS:
            log.warning("%s: ignoring obsolete argument %s (%s)", name, arg, OBSOLETE_ARGS[arg])
        elif arg == "--db-path":
            if index + 1 >= len(args):
                raise ConfigError(f"{name}.args: --db-path needs a value")
            db_path = args[index + 1]
            index += 1
        elif arg.startswith("--db-path="):
            db_path = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        index += 1
    return db_path, rest


def resolve(file_data=None, overrides=None, cwd=None):
    """Merge defaults, a config file's data and flag overrides into the launch plan.

    Returns a dict with ``data_dir``, ``run_dir``, ``log_level`` and one entry per service; every
    entry has ``enabled``, ``host``, ``port``; components also ``db_path``, ``module`` and
    ``extra_args``.
    """
    cwd = cwd or os.getcwd()
    merged = deep_merge(DEFAULTS, file_data or {})
    merged = deep_merge(merged, overrides or {})
    level = str(merged["log_level"]).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log_level: must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    data_dir = os.path.abspath(os.path.join(cwd, os.path.expanduser(str(merged["data_dir"]))))
    plan = {
        "data_dir": data_dir,
        "run_dir": os.path.join(data_dir, "run"),
        "log_level": level,
        "keys_db": os.path.join(data_dir, "keys.sqlite3"),
    }
    for name in SERVICES:
        entry = merged[name]
        if not isinstance(entry.get("enabled"), bool):
            raise ConfigError(
                f"{name}.enabled: expected true or false, got {entry.get('enabled')!r}"
            )
        _check_port(name, entry.get("port"))
        if not isinstance(entry.get("host"), str) or not entry["host"]:
            raise ConfigError(f"{name}.host: expected a host name or address")
        service = {"enabled": entry["enabled"], "host": entry["host"], "port": entry["port"]}
        if name in MODULES:
            service["module"] = _module_for(name, entry.get("module"))
            db_path, service["extra_args"] = _split_args(name, entry.get("args", []))
            if name in COMPONENTS:
                db_path = db_path or os.path.join(data_dir, f"{URL_NAMES[name]}.duckdb")
                service["db_path"] = os.path.abspath(os.path.join(cwd, os.path.expanduser(db_path)))
            elif db_path:
                raise ConfigError(f"{name}.args: --db-path applies to components only")
        if name == "gateway":
            workers = entry.get("workers")
            if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
                raise ConfigError(f"gateway.workers: expected an integer >= 1, got {workers!r}")
            service["workers"] = workers
        plan[name] = service
    _check_conflicts(plan)
    return plan


def _module_for(name, module):
    expected = MODULES[name]
    if module and module != expected:
        log.warning(
            "%s: ignoring module %r from the config file; running %s", name, module, expected
        )
    return expected


def _check_conflicts(plan):
    seen = {}
    for name in SERVICES:
        service = plan[name]
        if not service["enabled"]:
            continue
        if service["port"] in seen:
            raise ConfigError(
                f"{name}.port {service['port']} is also the port of {seen[service['port']]}"
            )
        seen[service["port"]] = name
    paths = {}
    for name in COMPONENTS:
        service = plan[name]
        if service["enabled"] and service["db_path"] in paths:
            raise ConfigError(
                f"{name}: database {service['db_path']} is also used by "
                f"{paths[service['db_path']]} "
                "(DuckDB allows one process per file)"
            )
        paths[service["db_path"]] = name
    if not plan["gateway"]["enabled"] and plan["nginx"]["enabled"]:
        raise ConfigError("nginx needs the gateway (for /auth/check); enable the gateway")


def load(options, cwd=None):
    """Build the launch plan from parsed flags (a dict), reading ``options['config']`` if given."""
    file_data = read_config_file(options["config"]) if options.get("config") else {}
    return resolve(file_data, flag_overrides(options), cwd=cwd)


def client_host(host):
    """Return the address a local client uses to reach a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def service_url(service):
    """Return the base URL of an enabled service entry."""
    return f"http://{client_host(service['host'])}:{service['port']}"


def redacted_summary(plan):
    """Return a one-line description of the effective plan for the log (it holds no secrets)."""
    parts = [f"data_dir={plan['data_dir']}", f"log_level={plan['log_level']}"]
    for name in SERVICES:
        service = plan[name]
        if not service["enabled"]:
            parts.append(f"{name}=disabled")
            continue
        text = f"{name}={service['host']}:{service['port']}"
        if "db_path" in service:
            text += f" db={service['db_path']}"
        if service.get("extra_args"):
            text += f" args={' '.join(service['extra_args'])}"
        parts.append(text)
    return "; ".join(parts)
