"""API key store: a SQLite file or a PostgreSQL database, keys kept only as SHA-256 hashes.

SQLite (not DuckDB) by default because several gateway workers and several gateway instances on
one host open the same file at once; WAL lets readers and one writer proceed together. Gateways
on several hosts share one PostgreSQL database instead (``keys_url=postgresql://...``): the same
code and SQL, :mod:`.sqlstore` hiding the difference. Each process caches lookups for
``cache_ttl`` seconds (default 2), so a revoked key stops working everywhere within that time
plus one request, well inside the 5 seconds promised; a changed scope or role likewise. A key
holds scopes of its own and roles (:mod:`.roles`); it may do the union of them. Signed session
tokens made from a key (:mod:`.sessions`) are checked against the key's current record through
:meth:`KeyStore.authenticate` too. Last-used times are written at most once
per ``touch_interval`` seconds per key and process, so authentication stays a dictionary lookup.
"""

import hashlib
import logging
import secrets
import time
from datetime import UTC

from unified_api_server.core.errors import ApiError
from unified_api_server.gateway import roles
from unified_api_server.gateway.keyrecord import KeyRecord, check_rate, record_of, utcnow
from unified_api_server.gateway.roles import KeyStoreError, parse_scopes, split_names
from unified_api_server.gateway.scopes import is_session_token
from unified_api_server.gateway.sqlstore import open_database, redact

__all__ = [
    "KeyRecord",
    "KeyStore",
    "KeyStoreError",
    "KeyStoreUnavailable",
    "check_rate",
    "ensure_admin_key",
    "utcnow",
]

log = logging.getLogger(__name__)

TOKEN_PREFIX = "uas_"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT,
    rate REAL,
    burst INTEGER,
    roles TEXT NOT NULL DEFAULT ''
)
"""
# Columns added since the first release, for stores made before them: (name, type).
_ADDED = (("rate", "REAL"), ("burst", "INTEGER"), ("roles", "TEXT NOT NULL DEFAULT ''"))
_COLUMNS = (
    "name, hint, scopes, created_at, expires_at, revoked_at, last_used_at, rate, burst, roles,"
    " substr(key_hash, 1, 16)"
)


class KeyStoreUnavailable(ApiError):
    """The key store cannot be read now (PostgreSQL down, the file locked): answer 503."""

    def __init__(self):
        super().__init__(
            503,
            "the API key store is unavailable, so no key can be checked; try again shortly",
            code="key_store_unavailable",
        )


def hash_key(token):
    """Return the stored form of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def store_location(settings):
    """Return where ``settings`` keep the key store: ``keys_url`` when set, else ``keys_db``."""
    return settings.get("keys_url") or settings["keys_db"]


class KeyStore:
    """Create, list, revoke and authenticate API keys kept in a SQLite file or PostgreSQL.

    ``location`` is a file path or a ``postgresql://`` URL.
    """

    def __init__(self, location, cache_ttl=2.0, touch_interval=5.0, cache_size=10000):
        self.db = open_database(location)
        self.path = self.db.location
        self.cache_ttl = cache_ttl
        self.touch_interval = touch_interval
        self.cache_size = cache_size
        self._cache = {}  # key hash -> (record or None, fetched at)
        self._touched = {}  # key hash -> monotonic time of the last last_used_at write
        self._ready = False
        self.sessions = None  # the gateway's session tokens (sessions.SessionTokens), if any

    @staticmethod
    def now():
        """Return the current time as stored: ISO 8601, UTC."""
        return utcnow().isoformat()

    def __str__(self):
        return redact(self.path)

    def _connect(self):
        """Return a context manager yielding a connection; the schema is made on first use."""
        if not self._ready:
            self._initialise()
        return self.db.connection()

    def _initialise(self):
        # One initialiser at a time: gateways starting together must not race the DDL.
        self.db.prepare()
        with self.db.transaction("schema") as connection:
            connection.execute(self.db.schema(_SCHEMA))
            present = self.db.table_columns(connection, "api_keys")
            for column, kind in _ADDED:
                if column not in present:
                    connection.execute(f"ALTER TABLE api_keys ADD COLUMN {column} {kind}")
            roles.initialise(connection, self.now(), self.db.schema)
        self._ready = True

    def create(self, name, scopes, expires_at=None, rate=None, burst=None, roles=()):
        """Create a key named ``name`` and return its secret token (shown only this once).

        The key holds ``scopes`` and ``roles`` (names of existing roles); at least one of them.
        """
        check_rate(rate, burst)
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise KeyStoreError("a key name of 1 to 100 characters is required")
        scopes, role_names = self._access(scopes, roles)
        if expires_at is not None and expires_at.tzinfo is None:
            raise KeyStoreError("expiry must carry a UTC offset")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            with self._connect() as connection:
                connection.execute(
                    "INSERT INTO api_keys (name, key_hash, hint, scopes, created_at, expires_at,"
                    " rate, burst, roles) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        hash_key(token),
                        token[: len(TOKEN_PREFIX) + 4] + "...",
                        ",".join(scopes),
                        utcnow().isoformat(),
                        expires_at.astimezone(UTC).isoformat() if expires_at else None,
                        rate,
                        burst,
                        ",".join(role_names),
                    ),
                )
        except self.db.integrity_errors:
            raise KeyStoreError(f"a key named {name!r} already exists") from None
        return token

    def _access(self, scopes, role_names):
        """Return ``(scopes, roles)`` checked: known scopes, existing roles, not both empty."""
        scopes, role_names = parse_scopes(scopes, allow_empty=True), split_names(role_names)
        if not scopes and not role_names:
            raise KeyStoreError("a key needs at least one scope or role")
        with self._connect() as connection:
            roles.check_roles(connection, role_names)
        return scopes, role_names

    def set_access(self, name, scopes=None, role_names=None):
        """Replace the scopes and/or roles of the key ``name`` (None: keep); return its record."""
        current = self.record_named(name, fresh=True)
        if current is None:
            raise KeyStoreError(f"no key named {name!r}")
        scopes, role_names = self._access(
            current.scopes if scopes is None else scopes,
            current.roles if role_names is None else role_names,
        )
        self._update(
            name,
            "UPDATE api_keys SET scopes = ?, roles = ? WHERE name = ?",
            (",".join(scopes), ",".join(role_names), name),
        )
        return self.record_named(name, fresh=True)

    def list(self):
        """Return every key's record (no secrets), oldest first."""
        with self._connect() as connection:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY id").fetchall()
            return [record_of(row, connection) for row in rows]

    def revoke(self, name):
        """Revoke the key named ``name``; raise KeyStoreError when there is none."""
        self._update(
            name,
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE name = ?",
            (utcnow().isoformat(), name),
        )

    def set_rate(self, name, rate, burst):
        """Change the rate and burst of the key named ``name`` (None: the gateway's default)."""
        check_rate(rate, burst)
        self._update(
            name, "UPDATE api_keys SET rate = ?, burst = ? WHERE name = ?", (rate, burst, name)
        )

    def _update(self, name, sql, params):
        with self._connect() as connection:
            changed = connection.execute(sql, params).rowcount
        if changed == 0:
            raise KeyStoreError(f"no key named {name!r}")

    def delete(self, name):
        """Delete the key named ``name`` for good (frees the name)."""
        self._update(name, "DELETE FROM api_keys WHERE name = ?", (name,))

    def ping(self):
        """Check that the store can be read; raise on failure."""
        with self._connect() as connection:
            connection.execute("SELECT 1 FROM api_keys LIMIT 1").fetchall()

    def authenticate(self, token):
        """Return ``(record, None)`` for a usable key, else ``(None, "unknown"|"revoked"|...)``."""
        if self.sessions is not None and is_session_token(token):
            return self.sessions.authenticate(token)
        if len(token) > 200:
            return None, "is not valid"
        digest = hash_key(token)
        return self.usable(self._lookup(digest, "key_hash", digest))

    def usable(self, record):
        """Return ``(record, None)`` when ``record`` may be used now, else ``(None, problem)``."""
        if record is None:
            return None, "is not valid"
        problem = record.problem(utcnow())
        if problem is not None:
            return None, f"has been {problem}" if problem == "revoked" else f"has {problem}"
        self._touch(record.name)
        return record, None

    def record_named(self, name, fresh=False):
        """Return the record of the key ``name`` (cached like lookups unless ``fresh``), or None."""
        return self._lookup("name:" + name, "name", name, fresh)

    def _lookup(self, cache_key, column, value, fresh=False):
        """Return the record whose ``column`` is ``value``, cached ``cache_ttl`` seconds."""
        now_mono = time.monotonic()
        cached = self._cache.get(cache_key)
        if not fresh and cached is not None and now_mono - cached[1] < self.cache_ttl:
            return cached[0]
        try:
            with self._connect() as connection:
                row = connection.execute(
                    f"SELECT {_COLUMNS} FROM api_keys WHERE {column} = ?", (value,)
                ).fetchone()
                record = record_of(row, connection) if row else None
        except self.db.errors as exc:
            log.warning("key store %s unavailable: %s", self, exc)
            raise KeyStoreUnavailable() from None
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[cache_key] = (record, now_mono)
        return record

    def _touch(self, name):
        """Record the key's last use, at most once per ``touch_interval`` in this process."""
        now_mono = time.monotonic()
        if now_mono - self._touched.get(name, -1e9) < self.touch_interval:
            return
        self._touched[name] = now_mono
        try:
            with self._connect() as connection:
                connection.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE name = ?",
                    (utcnow().isoformat(), name),
                )
        except self.db.errors as exc:  # a busy store must not fail the request
            log.warning("could not record key use: %s", exc)

    def ensure_admin_key(self, name="admin"):
        """Create an admin key when the store holds no key at all; return it, else None."""
        if not self._ready:
            self._initialise()
        with self.db.transaction("first-key") as connection:
            if connection.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone():
                return None
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            connection.execute(
                "INSERT INTO api_keys (name, key_hash, hint, scopes, created_at)"
                " VALUES (?, ?, ?, 'admin', ?)",
                (name, hash_key(token), token[: len(TOKEN_PREFIX) + 4] + "...", self.now()),
            )
            return token


def ensure_admin_key(location):
    """Create the first admin key in the store at ``location`` (path or URL) when it is empty.

    Returns the new key (for the launcher to show once) or None when any key exists.
    """
    return KeyStore(location).ensure_admin_key()
