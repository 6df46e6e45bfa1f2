"""The gateway's settings: defaults, then ``--config FILE``, then ``GATEWAY_*``, then flags.

Each registered component has a ``<name>_url`` setting (``--test-url``, ...).
"""

from urllib.parse import urlsplit

from unified_api_server.core.settings import (
    DATA_DIR,
    INTERNAL_TOKEN,
    LOG_LEVEL,
    ConfigError,
    Setting,
    SettingsGroup,
    data_path,
)
from unified_api_server.registry import COMPONENTS


def url_setting(component):
    """Return the name of the setting holding ``component``'s base URL, e.g. ``test_url``."""
    return f"{component.name}_url"


GATEWAY = SettingsGroup(
    (
        Setting("host", str, "127.0.0.1", "address to listen on"),
        Setting("port", int, 8080, "port to listen on", minimum=1, maximum=65535),
        *(
            Setting(
                url_setting(c), str, f"http://127.0.0.1:{c.default_port}", f"{c.title} base URL"
            )
            for c in COMPONENTS
        ),
        DATA_DIR,
        Setting("keys_db", str, data_path("keys.sqlite3"), "API key store (SQLite file)"),
        INTERNAL_TOKEN,
        Setting("workers", int, 2, "gunicorn gevent worker processes", minimum=1, maximum=64),
        Setting("worker_connections", int, 1000, "greenlets per worker", minimum=10),
        Setting("worker_timeout", int, 30, "gunicorn worker heartbeat timeout (s)", minimum=5),
        Setting("connect_timeout", float, 3.0, "upstream connect timeout (s)", minimum=0.05),
        Setting(
            "read_timeout", float, 120.0, "upstream read timeout between bytes (s)", minimum=0.05
        ),
        Setting(
            "view_budget", float, 5.0, "time budget per component in the views (s)", minimum=0.05
        ),
        Setting(
            "health_timeout", float, 2.0, "time budget per component in /health (s)", minimum=0.05
        ),
        Setting(
            "key_cache_ttl", float, 2.0, "seconds a key lookup is cached", minimum=0, maximum=4
        ),
        Setting("pool_size", int, 64, "kept-alive connections per component and worker", minimum=1),
        LOG_LEVEL,
    ),
    env_prefix="GATEWAY_",
)


def validate(values):
    """Check cross-field rules; raise ConfigError with a precise message."""
    for component in COMPONENTS:
        name = url_setting(component)
        parts = urlsplit(values[name])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{name}: expected an http(s) URL, got {values[name]!r}")
        if parts.query or parts.fragment:
            raise ConfigError(f"{name}: must not carry a query or fragment: {values[name]!r}")
    if not values["keys_db"]:
        raise ConfigError("keys_db: a file path is required")
    return values


def resolve(config_file=None, flags=None, environ=None):
    """Return validated settings from every layer."""
    return validate(GATEWAY.load(config_file=config_file, flags=flags, environ=environ))
