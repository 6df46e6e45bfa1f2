"""The gateway's settings: defaults, then ``--config FILE``, then ``GATEWAY_*``, then flags.

Each registered component has a ``<name>_url`` setting (``--test-url``, ...).
"""

from urllib.parse import urlsplit

from unified_api_server.core.cache import CACHE_MAX_MB, CACHE_TTL, CACHE_URL
from unified_api_server.core.settings import (
    BODY_TIMEOUT,
    DATA_DIR,
    INTERNAL_TOKEN,
    LOG_FORMAT,
    LOG_LEVEL,
    MAX_BODY_MB,
    METRICS_DIR,
    ConfigError,
    Setting,
    SettingsGroup,
    data_path,
)
from unified_api_server.registry import COMPONENTS


def url_setting(component):
    """Return the name of the setting holding ``component``'s base URL, e.g. ``test_url``."""
    return f"{component.name}_url"


# nginx waits as long as the gateway does: the launcher passes both to each.
READ_TIMEOUT = Setting(
    "read_timeout",
    float,
    30.0,
    "seconds a component may take to send the next bytes of an answer",
    minimum=0.05,
)
UPLOAD_TIMEOUT = Setting(
    "upload_timeout",
    float,
    300.0,
    "the same for uploads (bulk, import), which are answered once stored",
    minimum=0.05,
)

# The key store: a SQLite file on one host, or PostgreSQL shared by gateways on several hosts.
KEYS_DB = Setting("keys_db", str, data_path("keys.sqlite3"), "API key store (SQLite file)")
KEYS_URL = Setting(
    "keys_url",
    str,
    "",
    "API key store in PostgreSQL (postgresql://USER:PASSWORD@HOST/DB), shared by gateways on "
    "several hosts with their rate limits, socket slots and session secret; empty: keys_db",
    secret=True,
)

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
        KEYS_DB,
        KEYS_URL,
        INTERNAL_TOKEN,
        Setting("workers", int, 2, "gunicorn gevent worker processes", minimum=1, maximum=64),
        # A slow client costs a greenlet while its body arrives: room for many.
        Setting("worker_connections", int, 4000, "greenlets per worker", minimum=10),
        Setting("worker_timeout", int, 30, "gunicorn worker heartbeat timeout (s)", minimum=5),
        Setting("connect_timeout", float, 3.0, "upstream connect timeout (s)", minimum=0.05),
        READ_TIMEOUT,
        UPLOAD_TIMEOUT,
        Setting(
            "breaker_failures",
            int,
            5,
            "refusals or timeouts in a row that mark a component down",
            minimum=1,
        ),
        Setting(
            "breaker_cooldown",
            float,
            3.0,
            "seconds a component stays marked down before it is probed",
            minimum=0.1,
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
        Setting(
            "session_secret",
            str,
            "",
            "secret signing browser sessions (HS256, 32+ characters); empty: one generated "
            "once into KEYS_DB.session-secret, shared by every gateway using that store",
            secret=True,
        ),
        Setting(
            "session_ttl",
            int,
            3600,
            "seconds a browser session (signed token) lasts",
            minimum=60,
            maximum=7 * 86400,
        ),
        MAX_BODY_MB,
        BODY_TIMEOUT,
        Setting(
            "body_budget_mb",
            int,
            1024,
            "request bodies one worker holds at once (MiB, memory and temporary files)",
            minimum=1,
        ),
        Setting(
            "limits_db",
            str,
            data_path("limits.sqlite3"),
            "counters of rate limits and open sockets per key, shared by the workers (SQLite)",
        ),
        Setting(
            "rate_limit_storage",
            str,
            "",
            "a limits storage URI (redis://HOST:6379) to share rate limits across machines; "
            "empty: limits_db",
            secret=True,
        ),
        Setting(
            "default_rate", float, 100.0, "requests per second of a key with no rate", minimum=0
        ),
        Setting("default_burst", int, 200, "requests at once of a key with no burst", minimum=1),
        Setting(
            "job_sockets_per_key", int, 4, "job sockets one key may hold open at once", minimum=1
        ),
        Setting(
            "streams_per_key", int, 32, "change streams one key may hold open at once", minimum=1
        ),
        Setting("pool_size", int, 64, "kept-alive connections per component and worker", minimum=1),
        CACHE_URL,
        CACHE_TTL,
        CACHE_MAX_MB,
        LOG_LEVEL,
        LOG_FORMAT,
        METRICS_DIR,
    ),
    env_prefix="GATEWAY_",
)


REDIS_SCHEMES = ("redis", "rediss", "unix")


def validate(values):
    """Check cross-field rules; raise ConfigError with a precise message."""
    for component in COMPONENTS:
        name = url_setting(component)
        parts = urlsplit(values[name])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{name}: expected an http(s) URL, got {values[name]!r}")
        if parts.query or parts.fragment:
            raise ConfigError(f"{name}: must not carry a query or fragment: {values[name]!r}")
    if values["cache_url"] and urlsplit(values["cache_url"]).scheme not in REDIS_SCHEMES:
        raise ConfigError("cache_url: expected redis://, rediss:// or unix:// (a Redis server)")
    check_key_store(values)
    if values["session_secret"] and len(values["session_secret"]) < 32:
        raise ConfigError("session_secret: at least 32 characters (or empty: generated)")
    return values


def check_key_store(values):
    """Check ``keys_db`` and ``keys_url``; raise ConfigError naming what is wrong."""
    if not values["keys_db"]:
        raise ConfigError("keys_db: a file path is required")
    url = values.get("keys_url")
    if url and urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise ConfigError("keys_url: expected postgresql://USER@HOST[:PORT]/DATABASE (or empty)")
    return values


def resolve(config_file=None, flags=None, environ=None):
    """Return validated settings from every layer."""
    return validate(GATEWAY.load(config_file=config_file, flags=flags, environ=environ))
