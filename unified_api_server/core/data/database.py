"""DuckDB access: one connection a process, a cursor a request, serialised writes, migrations."""

import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from importlib import resources

import duckdb

from unified_api_server.core.data import migrate
from unified_api_server.core.data.ddl import expand_includes
from unified_api_server.core.data.migrate import MigrationError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")


class DatabaseLockedError(RuntimeError):
    """Another process holds the database file (DuckDB allows one process per file)."""


def load_migrations(package):
    """Return ``[(version, name, sql)]`` from the ``migrations`` folder of ``package``, in order."""
    found = []
    for entry in resources.files(package).joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            sql = expand_includes(entry.read_text(encoding="utf-8"))
            found.append((int(match.group(1)), match.group(2), sql))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {package}")
    return found


def open_connection(path, *, threads=2, memory_limit="1GB", lock_wait=0.0):
    """Open ``path`` read-write with this project's per-process DuckDB settings.

    A file another process holds is tried again for up to ``lock_wait`` seconds: after a
    crash, the process that held it may still be on its way out.
    """
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            return _open(path, threads, memory_limit)
        except DatabaseLockedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _open(path, threads, memory_limit):
    config = {
        "threads": threads,
        "memory_limit": memory_limit,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        connection = duckdb.connect(path, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DatabaseLockedError(
                f"database file {path} is in use by another process; DuckDB allows one process "
                f"per file, so stop the other service or pass a different --db-path ({exc})"
            ) from None
        raise
    # GLOBAL so that every cursor (each a session of its own) reads and writes times in UTC.
    # (enable_progress_bar cannot be set globally; it is off for non-interactive clients.)
    connection.execute("SET GLOBAL TimeZone = 'UTC'")
    return connection


class Database:
    """Owns the process's DuckDB connection; hands out cursors and the single write path."""

    # Retry a write that lost a DuckDB optimistic-concurrency race this many times.
    WRITE_RETRIES = 5

    def __init__(
        self,
        path,
        migrations=(),
        *,
        threads=2,
        memory_limit="1GB",
        lock_wait=0.0,
        auto_migrate=True,
        watch=None,
    ):
        self.path = path
        self._migrations = list(migrations)
        self._auto_migrate = auto_migrate
        # Called with every cursor handed out: bounds a request's queries (core.web.limits).
        self._watch = watch
        self._threads = threads
        self._memory_limit = memory_limit
        self._lock_wait = lock_wait
        self._connection = None
        self.closed = False  # closed: background work must not open it again
        self._open_lock = threading.Lock()
        self._write_lock = threading.RLock()

    @property
    def connection(self):
        """Return the process's connection, opening it (and migrating) on first use."""
        if self._connection is None:
            with self._open_lock:
                if self._connection is None:
                    connection = open_connection(
                        self.path,
                        threads=self._threads,
                        memory_limit=self._memory_limit,
                        lock_wait=self._lock_wait,
                    )
                    self._migrate(connection)
                    self._connection = connection
                    self.closed = False
        return self._connection

    def cursor(self):
        """Return a new cursor: each request uses its own (a shared one is not thread-safe)."""
        cursor = self.connection.cursor()
        if self._watch is not None:
            self._watch(cursor)
        return cursor

    @contextmanager
    def write(self, cursor=None):
        """Yield a cursor inside a transaction; writes in this process run one at a time.

        ``cursor`` (kept open afterwards) runs the transaction on a session that already holds
        something the write needs, such as a bulk load's staged rows in a temporary table.
        """
        with self._write_lock:
            if cursor is not None and self._watch is not None:
                self._watch(cursor)  # a request out of time starts no write
            session = cursor or self.cursor()
            try:
                session.begin()
                try:
                    yield session
                except BaseException:
                    session.rollback()
                    raise
                session.commit()
            finally:
                if cursor is None:
                    session.close()

    def run_write(self, work, cursor=None):
        """Run ``work(cursor)`` in a write transaction, retrying lost concurrency races."""
        for attempt in range(self.WRITE_RETRIES):
            try:
                with self.write(cursor) as session:
                    return work(session)
            except duckdb.TransactionException:
                if attempt == self.WRITE_RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def ping(self):
        """Run a trivial query: raise when the database does not answer."""
        cursor = self.cursor()
        try:
            cursor.execute("SELECT 1").fetchone()
        finally:
            cursor.close()

    def close(self):
        """Close the connection (tests and shutdown)."""
        self.closed = True
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def applied_migrations(self):
        """Return the migrations recorded in the database, oldest first."""
        cursor = self.cursor()
        try:
            return migrate.recorded(cursor)
        finally:
            cursor.close()

    def migration_status(self):
        """Return every known migration (applied, pending, changed, unknown), by version."""
        cursor = self.cursor()
        try:
            return migrate.status(cursor, self._migrations)
        finally:
            cursor.close()

    def pending_migrations(self):
        """Return the migrations not applied yet ``[(version, name, sql)]``, in order."""
        pending = {e["version"] for e in self.migration_status() if e["status"] == "pending"}
        return [m for m in self._migrations if m[0] in pending]

    def apply_migrations(self, dry_run=False, backup=True):
        """Apply the pending migrations, all or none, after backing the file up.

        Return ``(applied [(version, name, sql)], backup path or None)``; a dry run only
        tells what would be applied. A disagreement between files and database, or a
        migration that fails, raises :class:`MigrationError` and changes nothing.
        """
        with self._write_lock:
            cursor = self.connection.cursor()  # not watched: a request's time limit never cuts it
            try:
                pending = migrate.plan(cursor, self._migrations, self.path)
                if dry_run or not pending:
                    return pending, None
                copy = None
                if backup and self.path != ":memory:":
                    copy = migrate.backup(cursor, self.path)
                try:
                    migrate.apply(cursor, pending, self.path)
                except MigrationError as exc:
                    exc.backup = copy
                    raise
                return pending, copy
            finally:
                cursor.close()

    def _migrate(self, connection):
        connection.execute(migrate.TABLE)
        if self._auto_migrate:
            # A fresh install just works; the file is not backed up before its first use.
            cursor = connection.cursor()
            try:
                migrate.apply(cursor, migrate.plan(cursor, self._migrations, self.path), self.path)
            finally:
                cursor.close()
