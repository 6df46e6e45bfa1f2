"""The gateway's settings: defaults, then ``--config FILE``, then ``GATEWAY_*``, then flags."""

import os
from urllib.parse import urlsplit

from unified_api_server.core.config import ConfigError, Setting, load_settings

ENV_PREFIX = "GATEWAY_"

SETTINGS = (
    Setting("host", str, "127.0.0.1", "address to listen on"),
    Setting("port", int, 8080, "port to listen on", minimum=1, maximum=65535),
    Setting("test_url", str, "http://127.0.0.1:8000", "Test Suite component base URL"),
    Setting("generator_url", str, "http://127.0.0.1:8001", "Generator component base URL"),
    Setting("benchmark_url", str, "http://127.0.0.1:8002", "Benchmark component base URL"),
    Setting("keys_db", str, os.path.join("data", "keys.sqlite3"), "API key store (SQLite file)"),
    Setting("workers", int, 2, "gunicorn gevent worker processes", minimum=1, maximum=64),
    Setting("worker_connections", int, 1000, "greenlets per worker", minimum=10),
    Setting("worker_timeout", int, 30, "gunicorn worker heartbeat timeout (s)", minimum=5),
    Setting("connect_timeout", float, 3.0, "upstream connect timeout (s)", minimum=0.05),
    Setting("read_timeout", float, 120.0, "upstream read timeout between bytes (s)", minimum=0.05),
    Setting("view_budget", float, 5.0, "time budget per component in the views (s)", minimum=0.05),
    Setting("health_timeout", float, 2.0, "time budget per component in /health (s)", minimum=0.05),
    Setting("key_cache_ttl", float, 2.0, "seconds a key lookup is cached", minimum=0, maximum=4),
    Setting("pool_size", int, 64, "kept-alive connections per component and worker", minimum=1),
    Setting("log_level", str, "INFO", "log level: DEBUG, INFO, WARNING or ERROR"),
)

COMPONENT_URL_SETTINGS = {
    "test": "test_url",
    "generator": "generator_url",
    "benchmark": "benchmark_url",
}


def validate(values):
    """Check cross-field rules; raise ConfigError with a precise message."""
    for setting_name in COMPONENT_URL_SETTINGS.values():
        url = values[setting_name]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{setting_name}: expected an http(s) URL, got {url!r}")
        if parts.query or parts.fragment:
            raise ConfigError(f"{setting_name}: must not carry a query or fragment: {url!r}")
    values["log_level"] = values["log_level"].upper()
    if values["log_level"] not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"log_level: must be DEBUG, INFO, WARNING or ERROR, got {values['log_level']!r}"
        )
    if not values["keys_db"]:
        raise ConfigError("keys_db: a file path is required")
    return values


def resolve(config_file=None, overrides=None, environ=None):
    """Return validated settings from all layers."""
    values = load_settings(
        SETTINGS,
        env_prefix=ENV_PREFIX,
        config_file=config_file,
        overrides=overrides,
        environ=environ,
    )
    return validate(values)


def defaults():
    """Return the default settings."""
    return {setting.name: setting.default for setting in SETTINGS}
