"""DuckDB access: one connection a process, a cursor a request, serialised writes, migrations."""

import logging
import os
import re
import threading
import time
from contextlib import contextmanager, nullcontext
from importlib import resources

import duckdb

from unified_api_server.core.data import migrate
from unified_api_server.core.data.ddl import expand_includes
from unified_api_server.core.data.migrate import MigrationError
from unified_api_server.core.errors import ApiError

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


class EmbeddedStorage:
    """``storage = duckdb``: one DuckDB file that one process opens (see :mod:`.lake` for the
    other kind). Its constraints and sequences keep ids unique; nothing crosses processes."""

    file_backed = True  # copied to backups/ before migrations
    owner = None  # the one process of the file

    def orphaned(self, owner):
        """Return True: no other process shares the file, so no other owner is alive."""
        return True

    def __init__(self, path, lock_wait=0.0):
        self.path = path
        self.lock_wait = lock_wait

    def connect(self, threads, memory_limit):
        """Open the file with this project's per-process settings."""
        return open_connection(
            self.path, threads=threads, memory_limit=memory_limit, lock_wait=self.lock_wait
        )

    def ddl(self, sql):
        """Return a migration's SQL unchanged."""
        return sql

    def write_lock(self):
        """No lock beyond the process's own: no other process opens the file."""
        return nullcontext()

    def new_ids(self, cursor, table, column, count):
        """Return None: the column's sequence numbers new rows."""
        return None

    def preflight(self):
        """Fail now, clearly, when another process holds the file (after ``lock_wait``)."""
        open_connection(self.path, threads=1, lock_wait=self.lock_wait).close()

    def share_changes(self, feed):
        """Nothing to share: every writer of the file is this process."""

    def start_maintenance(self, maintain):
        """Nothing to maintain on a schedule."""

    def maintain(self, cursor):
        """Nothing to compact: DuckDB manages its own file."""
        return False

    def close(self):
        """Nothing held beyond the connection."""


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
        storage=None,
        indexes=(),
    ):
        # Where the tables live: a DuckDB file (default) or DuckLake (core/data/lake.py).
        self.storage = storage or EmbeddedStorage(path, lock_wait)
        self.path = self.storage.path
        self._migrations = list(migrations)
        self._auto_migrate = auto_migrate
        # ``CREATE INDEX IF NOT EXISTS`` statements built after the migrations (Component.indexes)
        self._indexes = tuple(indexes)
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
                    connection = self.storage.connect(self._threads, self._memory_limit)
                    self._migrate(connection)
                    self._connection = connection
                    self.closed = False
                    self.storage.start_maintenance(self.maintain)
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
        with self._write_lock, self.storage.write_lock():
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
            except duckdb.TransactionException as exc:
                if attempt == self.WRITE_RETRIES - 1:
                    log.warning("write gave up after %d conflicts: %s", self.WRITE_RETRIES, exc)
                    raise ApiError(
                        503,
                        f"the write conflicted with concurrent writes {self.WRITE_RETRIES} times "
                        "and nothing of it was stored; try again",
                        headers={"Retry-After": "1"},
                        code="write_conflict",
                    ) from None
                time.sleep(0.01 * (attempt + 1))

    def new_ids(self, cursor, table, column, count):
        """Return the first of ``count`` new ids for ``column`` of ``table`` (inside a write),
        or None where the column's own sequence numbers new rows."""
        return self.storage.new_ids(cursor, table, column, count)

    def insert_numbered(self, cursor, table, column, row):
        """Insert ``row`` (column -> value) into ``table``, whose ``column`` its sequence
        numbers, or the storage where there is none; return that number (None: the sequence's)."""
        first = self.new_ids(cursor, table, column, 1)
        if first is not None:
            row = {column: first, **row}
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(['?'] * len(row))})",
            list(row.values()),
        )
        return first

    @property
    def owner(self):
        """Return this process's name among those sharing the tables (None: it is alone)."""
        return self.storage.owner

    def orphaned(self, owner):
        """Tell whether work recorded under ``owner`` has no live process left to finish it."""
        return owner is None or self.storage.orphaned(owner)

    def share_changes(self, feed):
        """Let ``feed`` hear of the writes of every process of this database, not only ours."""
        self.storage.share_changes(feed)

    def maintain(self):
        """Compact the storage (DuckLake: on a schedule), writes held back meanwhile."""
        if self.closed:
            return
        with self._write_lock, self.storage.write_lock():
            cursor = self.connection.cursor()
            try:
                self.storage.maintain(cursor)
            finally:
                cursor.close()

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
        self.storage.close()

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
        with self._write_lock, self.storage.write_lock():
            cursor = self.connection.cursor()  # not watched: a request's time limit never cuts it
            try:
                pending = migrate.plan(cursor, self._migrations, self.path)
                if dry_run or not pending:
                    return pending, None
                copy = None
                if backup and self.storage.file_backed and self.path != ":memory:":
                    copy = migrate.backup(cursor, self.path)
                try:
                    migrate.apply(cursor, pending, self.path, self.storage.ddl)
                except MigrationError as exc:
                    exc.backup = copy
                    raise
                migrate.build_indexes(cursor, self._indexes, self.path, self.storage.ddl)
                return pending, copy
            finally:
                cursor.close()

    def _migrate(self, connection):
        # Under the storage's lock: replicas starting at once apply each migration once.
        with self.storage.write_lock():
            connection.execute(self.storage.ddl(migrate.TABLE))
            if self._auto_migrate:
                # A fresh install just works; the file is not backed up before its first use.
                cursor = connection.cursor()
                try:
                    pending = migrate.plan(cursor, self._migrations, self.path)
                    migrate.apply(cursor, pending, self.path, self.storage.ddl)
                finally:
                    cursor.close()
            migrate.build_indexes(connection, self._indexes, self.path, self.storage.ddl)
