"""Per-key rate limits and per-key WebSocket slots, shared by every gateway worker.

Rates: each key has a rate (requests per second) and a burst, its own or the gateway's
defaults. The `limits` library's fixed-window strategy enforces them as ``burst`` requests per
window of ``burst / rate`` seconds (rounded to whole seconds, at least one), so a key may spend
its burst at once and then its rate on average; a burst below the rate counts as the rate.
(Across a window's edge two bursts can meet: up to ``2 * burst`` requests in a short moment.)
Every answer to a keyed request carries
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset``; over the limit the answer
is 429 with ``Retry-After``. A key with rate 0 is not limited.

The counters live where every worker sees them: by default a SQLite file next to the key
store (:class:`SQLiteStorage`, registered with `limits` as ``uas+sqlite://``); with a PostgreSQL
key store (``keys_url``), in that database (``uas+postgresql://``), so every gateway on every
host counts against the same limit; or any storage `limits` knows (``rate_limit_storage =
redis://host:6379``). PostgreSQL is the default for several hosts because the key store already
needs it: one fewer service to run and keep available, at about one small upsert per request.

Sockets: :class:`SocketSlots` counts each key's open job sockets and change streams in the same
database, so one key cannot take every slot a component has. A slot held by a worker that died
is freed by the next acquire: in SQLite the holder is a process id of this host; in PostgreSQL it
is the server process of the holder's connection, which ends when the holder's process (or host)
does.
"""

import logging
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager

from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from unified_api_server.core.metrics import rate_limited
from unified_api_server.gateway.sqlstore import Postgres, immediate, is_postgres_url

log = logging.getLogger(__name__)

_SCHEMA_LOCK = 0x7561735F6C696D  # an advisory lock number: one process makes the tables
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, "
    "expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sockets (id INTEGER PRIMARY KEY, key_name TEXT NOT NULL, "
    "kind TEXT NOT NULL, pid INTEGER NOT NULL)",
)


def open_counters(location):
    """Return the counters' database: a SQLite file path or a PostgreSQL URL."""
    return _Postgres(location) if is_postgres_url(location) else _SQLite(location)


class _Postgres(Postgres):
    """The PostgreSQL database of a key store, holding the counters too (made on first use)."""

    def __init__(self, url):
        super().__init__(url)
        self._made = False

    @contextmanager
    def connection(self):
        """Yield this process's connection, the counters' tables made on first use."""
        with super().connection() as connection:
            if not self._made:
                connection.execute("SELECT pg_advisory_lock(?)", (_SCHEMA_LOCK,))
                try:
                    for statement in _SCHEMA:
                        connection.execute(self.schema(statement))
                finally:
                    connection.execute("SELECT pg_advisory_unlock(?)", (_SCHEMA_LOCK,))
                self._made = True
            yield connection

    def holder(self):
        """Return what marks a slot as this process's: its connection's server process."""
        return self.backend_pid()

    @staticmethod
    def free_dead(connection):
        """Free the slots whose holder's connection is gone."""
        connection.execute(
            "DELETE FROM sockets WHERE pid NOT IN (SELECT pid FROM pg_stat_activity)"
        )


class _SQLite:
    """One connection per process to the shared file (WAL, no fsync: counters, not records)."""

    errors = (sqlite3.Error,)

    def __init__(self, path):
        self.path = path
        self._connection = None
        self._pid = None
        self.lock = threading.RLock()

    @contextmanager
    def connection(self):
        """Yield this process's connection, for one thread at a time."""
        with self.lock:
            yield self._open()

    @contextmanager
    def transaction(self, lock=None):
        """Yield the connection inside a write transaction (the whole file is the lock)."""
        with self.connection() as connection, immediate(connection):
            yield connection

    @staticmethod
    def holder():
        """Return what marks a slot as this process's: its process id."""
        return os.getpid()

    @staticmethod
    def free_dead(connection):
        """Free the slots of processes of this host that have exited."""
        for (pid,) in connection.execute("SELECT DISTINCT pid FROM sockets").fetchall():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                connection.execute("DELETE FROM sockets WHERE pid = ?", (pid,))
            except PermissionError:
                pass  # alive, another user's

    def _open(self):
        """Return this process's connection, opened (and the schema made) on first use."""
        if self._connection is None or self._pid != os.getpid():
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            connection = sqlite3.connect(
                self.path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = OFF")
            for statement in _SCHEMA:
                connection.execute(statement)
            os.chmod(self.path, 0o600)
            self._connection, self._pid = connection, os.getpid()
        return self._connection


class SQLiteStorage(Storage):
    """A `limits` storage in SQL: counters with an expiry, updated atomically.

    ``uas+sqlite:///path/limits.sqlite3`` or ``uas+postgresql://user@host/db`` (the key store's).
    """

    STORAGE_SCHEME = ["uas+sqlite", "uas+postgresql", "uas+postgres"]

    def __init__(self, uri, wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        scheme, rest = uri.split("://", 1)
        self.db = open_counters(rest if scheme == "uas+sqlite" else uri[len("uas+") :])

    @property
    def base_exceptions(self):
        """The errors `limits` treats as the storage failing."""
        return self.db.errors

    def incr(self, key, expiry, amount=1):
        """Add ``amount`` to ``key``'s counter (a fresh window when it expired); return it."""
        return self.count(key, expiry, amount)[0]

    def count(self, key, expiry, amount=1):
        """Add ``amount`` to ``key``'s counter; return ``(count, window end)`` in one statement.

        One round trip instead of `limits`' three (incr, get, get_expiry): what a shared
        PostgreSQL costs per request is mostly round trips.
        """
        now = time.time()
        with self.db.connection() as connection:
            row = connection.execute(
                "INSERT INTO counters (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = CASE WHEN counters.expires_at <= ? "
                "THEN excluded.value ELSE counters.value + excluded.value END, "
                "expires_at = CASE WHEN counters.expires_at <= ? THEN excluded.expires_at "
                "ELSE counters.expires_at END RETURNING value, expires_at",
                (key, amount, now + expiry, now, now),
            ).fetchone()
        return row[0], row[1]

    def get(self, key):
        """Return ``key``'s counter in its current window (0 when none)."""
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key):
        """Return when ``key``'s window ends (epoch seconds)."""
        row = self._row(key)
        return row[1] if row else time.time()

    def _row(self, key):
        with self.db.connection() as connection:
            return connection.execute(
                "SELECT value, expires_at FROM counters WHERE key = ? AND expires_at > ?",
                (key, time.time()),
            ).fetchone()

    def check(self):
        """Tell whether the database can be used."""
        with self.db.connection() as connection:
            return tuple(connection.execute("SELECT 1").fetchone()) == (1,)

    def reset(self):
        """Forget every counter (and expired ones with them); return how many there were."""
        with self.db.connection() as connection:
            return connection.execute("DELETE FROM counters").rowcount

    def clear(self, key):
        """Forget ``key``'s counter."""
        with self.db.connection() as connection:
            connection.execute("DELETE FROM counters WHERE key = ?", (key,))


class RateLimits:
    """Decides, per request, whether a key is within its rate; returns the headers to send."""

    def __init__(self, settings):
        uri = settings["rate_limit_storage"] or f"uas+sqlite://{settings['limits_db']}"
        if not settings["rate_limit_storage"] and settings.get("keys_url"):
            uri = "uas+" + settings["keys_url"]  # gateways on several hosts: one count
        storage = storage_from_string(uri)
        self.limiter = FixedWindowRateLimiter(storage)
        base = storage.base_exceptions
        self._failures = (StorageError, OSError, *(base if isinstance(base, tuple) else (base,)))
        self.default_rate = settings["default_rate"]
        self.default_burst = settings["default_burst"]

    def item(self, record):
        """Return the limit of ``record``'s key, or None when it is not limited."""
        rate = self.default_rate if record.rate is None else record.rate
        burst = self.default_burst if record.burst is None else record.burst
        if rate <= 0:
            return None
        window = max(1, round(burst / rate))  # whole seconds
        return RateLimitItemPerSecond(max(burst, math.ceil(rate * window)), window)

    def _hit(self, item, name):
        """Count one request; return ``(allowed, window end, remaining)``."""
        storage = self.limiter.storage
        if isinstance(storage, SQLiteStorage):  # ours: one statement
            count, reset_at = storage.count(item.key_for(name), item.get_expiry())
            return count <= item.amount, reset_at, max(0, item.amount - count)
        allowed = self.limiter.hit(item, name)
        reset_at, remaining = self.limiter.get_window_stats(item, name)
        return allowed, reset_at, remaining

    def check(self, record):
        """Count a request of ``record``'s key; return ``(refusal or None, headers)``."""
        item = self.item(record)
        if item is None:
            return None, []
        try:
            allowed, reset_at, remaining = self._hit(item, record.name)
        except self._failures as exc:  # never fail a request for it
            log.warning("rate limit storage unavailable, request allowed: %s", exc)
            return None, []
        reset = max(1, math.ceil(reset_at - time.time()))
        headers = [
            ("RateLimit-Limit", str(item.amount)),
            ("RateLimit-Remaining", str(remaining)),
            ("RateLimit-Reset", str(reset)),
        ]
        if allowed:
            return None, headers
        headers.append(("Retry-After", str(reset)))
        rate_limited("rate")
        refusal = (
            f"API key {record.name!r} is over its rate limit of {item.amount} requests per "
            f"{item.get_expiry()} s; try again in {reset} s"
        )
        return refusal, headers


class SocketSlots:
    """Counts each key's open sockets of one kind across workers; refuses past the limit."""

    def __init__(self, location, limits):
        self.db = open_counters(location)  # limits_db, or the PostgreSQL key store's URL
        self.limits = limits  # kind ("job", "stream") -> open sockets allowed per key

    def acquire(self, key_name, kind):
        """Take a slot for ``key_name``; return its release function, or None when full.

        A store that cannot be used lets the socket open (and says so in the log): the limit
        protects the components, and failing every socket would be worse.
        """
        try:
            slot = self._take(key_name, kind, self.limits[kind])
        except (*self.db.errors, OSError) as exc:
            log.warning("socket slots unavailable, socket allowed: %s", exc)
            return lambda: None
        return None if slot is None else lambda: self._release(slot)

    def _take(self, key_name, kind, limit):
        holder = self.db.holder()
        with self.db.transaction("sockets") as connection:
            self.db.free_dead(connection)
            (held,) = connection.execute(
                "SELECT count(*) FROM sockets WHERE key_name = ? AND kind = ?",
                (key_name, kind),
            ).fetchone()
            if held >= limit:
                return None
            return connection.execute(
                "INSERT INTO sockets (key_name, kind, pid) VALUES (?, ?, ?) RETURNING id",
                (key_name, kind, holder),
            ).fetchone()[0]

    def _release(self, slot):
        try:
            with self.db.connection() as connection:
                connection.execute("DELETE FROM sockets WHERE id = ?", (slot,))
        except (*self.db.errors, OSError) as exc:  # freed when this worker's process is gone
            log.warning("could not free socket slot %s: %s", slot, exc)
