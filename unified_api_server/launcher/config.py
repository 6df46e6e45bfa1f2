"""The launcher's settings and the launch plan they make.

The launcher uses the same settings system as every process (defaults, file, ``UAS_*``
environment, flags given). Each service has ``<service>_enabled``, ``_host``, ``_port`` and,
for the Python services, ``_args`` (more flags for its command line); so ``--test-api-port``
and ``--gateway-port`` are generated like every other flag. The original configuration file,
one object per service (``{"test_api": {"port": 8000, "args": [...]}, ...}``), is read into
those same settings, so it keeps working; its ``module`` keys name the old system's modules
and are ignored with a warning.

Scale-out (docs/scale-out.md): ``--gateways N`` runs N gateways and ``--replicas COMPONENT=N``
(repeatable) N processes of a component, each a program of its own on its own port: gateway
``i`` (1..N) on ``gateway_port + 10 * (i - 1)``, replica ``i`` of a component on
``PORT + 10 * i``, while the component's own port is where nginx balances over its replicas
(the gateway's ``--COMPONENT-url`` points there, so the gateway needs no list of replicas).
Both need nginx in front, which balances, and replicas need ``storage = ducklake`` (one DuckDB
file allows one process).
"""

import logging
import os

from unified_api_server.core.settings import (
    DATA_DIR,
    LOG_FORMAT,
    LOG_LEVEL,
    MAX_BODY_MB,
    ConfigError,
    Setting,
    SettingsGroup,
    read_json_object,
)
from unified_api_server.gateway.settings import KEYS_URL, READ_TIMEOUT, UPLOAD_TIMEOUT
from unified_api_server.registry import BY_NAME, COMPONENTS, NAMES

log = logging.getLogger(__name__)

COMPONENT_SERVICES = tuple(c.service for c in COMPONENTS)
SERVICES = (*COMPONENT_SERVICES, "gateway", "nginx")
_ENTRY_KEYS = {name: {"enabled", "host", "port", "args", "module"} for name in SERVICES}
_ENTRY_KEYS["gateway"] |= {"workers"}
_ENTRY_KEYS["nginx"] = {"enabled", "host", "port"}
# Flags of the old system that mean nothing now; dropped from ``args`` with a warning.
OBSOLETE_ARGS = {"--server": "the old test module needed it to serve instead of running its tests"}


def _service_settings(name, title, port, *, enabled=True, args=True):
    settings = [
        Setting(f"{name}_enabled", bool, enabled, f"run the {title}"),
        Setting(f"{name}_host", str, "127.0.0.1", f"address the {title} listens on"),
        Setting(f"{name}_port", int, port, f"port of the {title}", minimum=1, maximum=65535),
    ]
    if args:
        settings.append(Setting(f"{name}_args", list, [], f"more flags for the {title}"))
    return settings


def _settings():
    settings = [DATA_DIR, LOG_LEVEL, LOG_FORMAT, MAX_BODY_MB, READ_TIMEOUT, UPLOAD_TIMEOUT]
    settings.append(
        Setting("start_timeout", float, 60.0, "seconds to wait for every health check", minimum=1)
    )
    for component in COMPONENTS:
        settings += _service_settings(component.service, component.title, component.default_port)
    settings += _service_settings("gateway", "gateway", 8080)
    settings.append(
        Setting("gateway_workers", int, 2, "gateway worker processes", minimum=1, flag="--workers")
    )
    settings += _service_settings("nginx", "nginx front end", 8088, enabled=False, args=False)
    settings += [
        KEYS_URL,
        Setting(
            "gateways",
            int,
            1,
            "gateway processes, each on its own port (gateway_port + 10 x i); nginx balances",
            minimum=1,
            maximum=32,
        ),
        Setting(
            "replicas",
            list,
            [],
            "COMPONENT=N: N processes of a component (storage = ducklake only), on ports "
            "PORT + 10 x i, nginx balancing on the component's port (repeatable)",
            multiple=True,
        ),
    ]
    return settings


def read_config_file(path):
    """Read a launcher config file, nested per service as in the original, into settings."""
    data = read_json_object(path)
    flat = {}
    for key, value in data.items():
        if key not in SERVICES:
            flat[key] = value
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"config file {path}: {key} must be an object")
        extra = sorted(set(value) - _ENTRY_KEYS[key])
        if extra:
            known = ", ".join(sorted(_ENTRY_KEYS[key]))
            raise ConfigError(
                f"config file {path}: {key}: unknown keys {', '.join(extra)} (known: {known})"
            )
        for entry, entry_value in value.items():
            if entry == "module":
                log.warning("%s: ignoring module %r from the config file", key, entry_value)
                continue
            flat[f"{key}_{entry}"] = entry_value
    return flat


LAUNCHER = SettingsGroup(_settings(), env_prefix="UAS_", read_file=read_config_file)


def _split_args(name, args):
    """Return ``(db_path or None, other args)`` of a service's ``args``; drop obsolete ones."""
    db_path, rest, index = None, [], 0
    while index < len(args):
        arg = args[index]
        if arg in OBSOLETE_ARGS:
            log.warning("%s: ignoring obsolete argument %s (%s)", name, arg, OBSOLETE_ARGS[arg])
        elif arg == "--db-path":
            if index + 1 >= len(args):
                raise ConfigError(f"{name}_args: --db-path needs a value")
            db_path = args[index + 1]
            index += 1
        elif arg.startswith("--db-path="):
            db_path = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        index += 1
    return db_path, rest


def plan_from(values, cwd=None):
    """Turn resolved launcher settings into the launch plan.

    The plan has ``data_dir``, ``run_dir``, ``log_level``, ``log_format``, ``keys_db``,
    ``start_timeout``, ``max_body_mb``, ``read_timeout``, ``upload_timeout`` and
    one entry per service with ``enabled``, ``host`` and ``port``; components also have
    ``db_path``, ``component`` and ``extra_args``, the gateway ``workers`` and ``extra_args``.
    """
    cwd = cwd or os.getcwd()
    data_dir = os.path.abspath(os.path.join(cwd, os.path.expanduser(values["data_dir"])))
    plan = {
        "data_dir": data_dir,
        "run_dir": os.path.join(data_dir, "run"),
        "log_level": values["log_level"],
        "log_format": values["log_format"],
        "keys_db": os.path.join(data_dir, "keys.sqlite3"),
        "start_timeout": values["start_timeout"],
        "max_body_mb": values["max_body_mb"],
        "read_timeout": values["read_timeout"],
        "upload_timeout": values["upload_timeout"],
    }
    for name in SERVICES:
        plan[name] = {key: values[f"{name}_{key}"] for key in ("enabled", "host", "port")}
        if not plan[name]["host"].strip():
            raise ConfigError(f"{name}_host: expected a host name or address")
    for component in COMPONENTS:
        service = plan[component.service]
        db_path, service["extra_args"] = _split_args(
            component.service, values[f"{component.service}_args"]
        )
        db_path = db_path or os.path.join(data_dir, f"{component.name}.duckdb")
        service["db_path"] = os.path.abspath(os.path.join(cwd, os.path.expanduser(db_path)))
        service["component"] = component
    db_path, plan["gateway"]["extra_args"] = _split_args("gateway", values["gateway_args"])
    if db_path:
        raise ConfigError("gateway_args: --db-path applies to components only")
    plan["gateway"]["workers"] = values["gateway_workers"]
    plan["keys_url"] = values["keys_url"]
    _plan_instances(plan, values)
    _check_conflicts(plan)
    return plan


def parse_replicas(items):
    """Return ``{component: N}`` from ``["benchmark=2", ...]``, or raise ConfigError."""
    counts = {}
    for item in items:
        name, _, number = str(item).partition("=")
        name = name.strip()
        if name not in BY_NAME or not number.strip().isdigit() or not 1 <= int(number) <= 32:
            raise ConfigError(
                f"replicas: expected COMPONENT=N with COMPONENT one of {', '.join(NAMES)} and "
                f"N from 1 to 32, got {item!r}"
            )
        counts[name] = int(number)
    return counts


def component_storage(component, extra_args, environ=None):
    """Return the storage a component's process will use (its flag, its variable, or duckdb).

    That is ``--storage`` in its args, else its environment's ``BENCHMARK_API_STORAGE`` (which
    supervisord passes on), else the default.
    """
    for index, arg in enumerate(extra_args):
        if arg == "--storage" and index + 1 < len(extra_args):
            return extra_args[index + 1]
        if arg.startswith("--storage="):
            return arg.split("=", 1)[1]
    environ = os.environ if environ is None else environ
    return environ.get(f"{component.env_prefix}STORAGE", "duckdb")


def _plan_instances(plan, values):
    """Give each service its ``instances``: ``[(program, port)]``, one per process to run."""
    counts = parse_replicas(values["replicas"])
    for component in COMPONENTS:
        service = plan[component.service]
        count = service["replicas"] = counts.get(component.name, 1)
        if count > 1 and component_storage(component, service["extra_args"]) != "ducklake":
            raise ConfigError(
                f"replicas: {component.name}={count} needs storage = ducklake (one DuckDB file "
                f"allows one process); give {component.service} --storage ducklake and a "
                f"--catalog-url ({component.service}_args, or {component.env_prefix}STORAGE): "
                "see docs/scale-out.md"
            )
        service["instances"] = (
            [(f"{component.service}-{i}", service["port"] + 10 * i) for i in range(1, count + 1)]
            if count > 1
            else [(component.service, service["port"])]
        )
    gateway, count = plan["gateway"], values["gateways"]
    gateway["instances"] = (
        [(f"gateway-{i}", gateway["port"] + 10 * (i - 1)) for i in range(1, count + 1)]
        if count > 1
        else [("gateway", gateway["port"])]
    )
    plan["nginx"]["instances"] = [("nginx", plan["nginx"]["port"])]
    scaled = count > 1 or any(n > 1 for n in counts.values())
    if scaled and not plan["nginx"]["enabled"]:
        raise ConfigError(
            "--gateways and --replicas above 1 need nginx in front (--nginx PORT): it balances "
            "the traffic over the processes"
        )


def programs(plan):
    """Return ``[(program, service, port)]``: every process of every enabled service."""
    return [
        (program, name, port)
        for name in SERVICES
        if plan[name]["enabled"]
        for program, port in plan[name]["instances"]
    ]


def balanced_components(plan):
    """Return the enabled components with several replicas (nginx balances on their port)."""
    return [c for c in COMPONENTS if plan[c.service]["enabled"] and plan[c.service]["replicas"] > 1]


def _check_conflicts(plan):
    ports, paths = {}, {}
    balancers = [(f"{c.service} (nginx)", c.service, plan[c.service]["port"])
                 for c in balanced_components(plan)]  # fmt: skip
    for program, service, port in programs(plan) + balancers:
        label = f"{service}_port {port}" if program == service else f"{program} port {port}"
        if port in ports:
            raise ConfigError(f"{label} is also the port of {ports[port]}")
        ports[port] = program
    for name in SERVICES:
        service = plan[name]
        if not service["enabled"]:
            continue
        if "db_path" in service and service["db_path"] in paths:
            raise ConfigError(
                f"{name}: database {service['db_path']} is also used by "
                f"{paths[service['db_path']]} (DuckDB allows one process per file)"
            )
        paths[service.get("db_path")] = name
    if not plan["gateway"]["enabled"] and plan["nginx"]["enabled"]:
        raise ConfigError("nginx needs the gateway (for /auth/check); enable the gateway")


def load(config_file=None, flags=None, cwd=None, environ=None):
    """Resolve the launcher's settings from every layer and return the launch plan."""
    values = LAUNCHER.load(config_file=config_file, flags=flags, environ=environ)
    return plan_from(values, cwd=cwd)


def with_shorthands(flags, host=None, nginx=None):
    """Apply the original launcher's shorthand flags to the generated ones and return them.

    ``--host H`` is where clients connect: the gateway's and nginx's address, unless their own
    flags are given. ``--nginx PORT`` runs nginx in front on PORT.
    """
    flags = dict(flags)
    if host is not None:
        for name in ("gateway_host", "nginx_host"):
            flags[name] = flags.get(name) or host
    if nginx is not None:
        flags["nginx_enabled"], flags["nginx_port"] = True, nginx
    return flags


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
    parts.append(f"log_format={plan['log_format']}")
    for name in SERVICES:
        service = plan[name]
        if not service["enabled"]:
            parts.append(f"{name}=disabled")
            continue
        text = f"{name}={service['host']}:{service['port']}"
        if len(service["instances"]) > 1:
            text += " processes on " + ",".join(str(port) for _, port in service["instances"])
        if "db_path" in service:
            text += f" db={service['db_path']}"
        if service.get("extra_args"):
            text += f" args={' '.join(service['extra_args'])}"
        parts.append(text)
    return "; ".join(parts)
