"""API key store: SQLite in WAL mode, keys kept only as SHA-256 hashes.

SQLite (not DuckDB) because several gateway workers and several gateway instances open the same
file at once; WAL lets readers and one writer proceed together. Each process caches lookups for
``cache_ttl`` seconds (default 2), so a revoked key stops working everywhere within that time
plus one request, well inside the 5 seconds promised. Last-used times are written at most once
per ``touch_interval`` seconds per key and process, so authentication stays a dictionary lookup.
"""

import hashlib
import logging
import math
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from unified_api_server.gateway.routing import SCOPES

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
    burst INTEGER
)
"""
# Columns added since the first release, for stores made before them: (name, type).
_ADDED = (("rate", "REAL"), ("burst", "INTEGER"))
_COLUMNS = "name, hint, scopes, created_at, expires_at, revoked_at, last_used_at, rate, burst"


class KeyStoreError(ValueError):
    """A key operation cannot be done; the message says why."""


@dataclass(frozen=True)
class KeyRecord:
    """One stored key, without its secret."""

    name: str
    hint: str
    scopes: tuple
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate: float | None = None  # requests per second (None: the gateway's default; 0: no limit)
    burst: int | None = None  # requests at once (None: the gateway's default)

    def problem(self, now):
        """Return why this key cannot be used at ``now`` ("revoked", "expired"), or None."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return None

    def as_dict(self):
        """Return the record as JSON-ready data (no secret)."""
        iso = lambda value: value.isoformat() if value else None  # noqa: E731
        return {
            "name": self.name,
            "hint": self.hint,
            "scopes": list(self.scopes),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
            "rate": self.rate,
            "burst": self.burst,
        }


def utcnow():
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def hash_key(token):
    """Return the stored form of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text):
    """Parse ``"read,write"`` into a sorted tuple, or raise KeyStoreError."""
    scopes = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = scopes - set(SCOPES)
    if unknown or not scopes:
        raise KeyStoreError(f"scopes must be a comma-separated subset of {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in scopes)


def _parse_time(value):
    return datetime.fromisoformat(value) if value else None


def _record(row):
    name, hint, scopes, created, expires, revoked, used, rate, burst = row
    times = (_parse_time(t) for t in (created, expires, revoked, used))
    return KeyRecord(name, hint, tuple(scopes.split(",")), *times, rate, burst)


def check_rate(rate, burst):
    """Raise KeyStoreError unless ``rate`` (>= 0, or None) and ``burst`` (>= 1, or None) fit."""
    if rate is not None and not (rate >= 0 and math.isfinite(rate)):
        raise KeyStoreError("rate must be a number of requests per second >= 0 (0: no limit)")
    if burst is not None and burst < 1:
        raise KeyStoreError("burst must be a whole number of requests >= 1")


class KeyStore:
    """Create, list, revoke and authenticate API keys kept in one SQLite file."""

    def __init__(self, path, cache_ttl=2.0, touch_interval=5.0, cache_size=10000):
        self.path = os.fspath(path)
        self.cache_ttl = cache_ttl
        self.touch_interval = touch_interval
        self.cache_size = cache_size
        self._cache = {}  # key hash -> (record or None, fetched at)
        self._touched = {}  # key hash -> monotonic time of the last last_used_at write
        self._lock = threading.Lock()
        self._ready = False

    def _connect(self):
        """Open a connection; short-lived because lookups are cached and rare."""
        if not self._ready:
            self._initialise()
        connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 5000")
        return connection

    def _initialise(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        created = not os.path.exists(self.path)
        connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            connection.execute("PRAGMA busy_timeout = 5000")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(_SCHEMA)
            present = {row[1] for row in connection.execute("PRAGMA table_info(api_keys)")}
            for column, kind in _ADDED:
                if column not in present:
                    connection.execute(f"ALTER TABLE api_keys ADD COLUMN {column} {kind}")
        finally:
            connection.close()
        if created:
            try:
                os.chmod(self.path, 0o600)
            except OSError:
                pass
        self._ready = True

    def create(self, name, scopes, expires_at=None, rate=None, burst=None):
        """Create a key named ``name`` and return its secret token (shown only this once)."""
        check_rate(rate, burst)
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise KeyStoreError("a key name of 1 to 100 characters is required")
        scopes = parse_scopes(scopes) if isinstance(scopes, str) else parse_scopes(",".join(scopes))
        if expires_at is not None and expires_at.tzinfo is None:
            raise KeyStoreError("expiry must carry a UTC offset")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        connection = self._connect()
        try:
            connection.execute(
                "INSERT INTO api_keys (name, key_hash, hint, scopes, created_at, expires_at, rate,"
                " burst) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    hash_key(token),
                    token[: len(TOKEN_PREFIX) + 4] + "...",
                    ",".join(scopes),
                    utcnow().isoformat(),
                    expires_at.astimezone(UTC).isoformat() if expires_at else None,
                    rate,
                    burst,
                ),
            )
        except sqlite3.IntegrityError:
            raise KeyStoreError(f"a key named {name!r} already exists") from None
        finally:
            connection.close()
        return token

    def list(self):
        """Return every key's record (no secrets), oldest first."""
        connection = self._connect()
        try:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY id").fetchall()
        finally:
            connection.close()
        return [_record(row) for row in rows]

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
        connection = self._connect()
        try:
            cursor = connection.execute(sql, params)
        finally:
            connection.close()
        if cursor.rowcount == 0:
            raise KeyStoreError(f"no key named {name!r}")

    def delete(self, name):
        """Delete the key named ``name`` for good (frees the name)."""
        self._update(name, "DELETE FROM api_keys WHERE name = ?", (name,))

    def ping(self):
        """Check that the store can be read; raise on failure."""
        connection = self._connect()
        try:
            connection.execute("SELECT 1 FROM api_keys LIMIT 1").fetchall()
        finally:
            connection.close()

    def authenticate(self, token):
        """Return ``(record, None)`` for a usable key, else ``(None, "unknown"|"revoked"|...)``."""
        if len(token) > 200:
            return None, "is not valid"
        digest = hash_key(token)
        now_mono = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now_mono - cached[1] < self.cache_ttl:
            record = cached[0]
        else:
            record = self._fetch(digest)
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[digest] = (record, now_mono)
        if record is None:
            return None, "is not valid"
        problem = record.problem(utcnow())
        if problem is not None:
            return None, f"has been {problem}" if problem == "revoked" else f"has {problem}"
        self._touch(digest, now_mono)
        return record, None

    def _fetch(self, digest):
        connection = self._connect()
        try:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = ?", (digest,)
            ).fetchone()
        finally:
            connection.close()
        return _record(row) if row else None

    def _touch(self, digest, now_mono):
        """Record the key's last use, at most once per ``touch_interval`` in this process."""
        if now_mono - self._touched.get(digest, -1e9) < self.touch_interval:
            return
        self._touched[digest] = now_mono
        try:
            connection = self._connect()
            try:
                connection.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE key_hash = ?",
                    (utcnow().isoformat(), digest),
                )
            finally:
                connection.close()
        except sqlite3.Error as exc:  # a busy store must not fail the request
            log.warning("could not record key use: %s", exc)

    def ensure_admin_key(self, name="admin"):
        """Create an admin key when the store holds no key at all; return it, else None."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            if connection.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone():
                connection.execute("ROLLBACK")
                return None
            now = utcnow()
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            connection.execute(
                "INSERT INTO api_keys (name, key_hash, hint, scopes, created_at)"
                " VALUES (?, ?, ?, 'admin', ?)",
                (name, hash_key(token), token[: len(TOKEN_PREFIX) + 4] + "...", now.isoformat()),
            )
            connection.execute("COMMIT")
            return token
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()


def ensure_admin_key(path):
    """Create the first admin key in the store at ``path`` when the store is empty.

    Returns the new key (for the launcher to show once) or None when any key exists.
    """
    return KeyStore(path).ensure_admin_key()
