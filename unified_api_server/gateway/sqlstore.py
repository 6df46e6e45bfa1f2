"""The two databases a gateway keeps its shared state in: a SQLite file, or PostgreSQL.

The key store (:mod:`.keys`, :mod:`.roles`), the session signing secret (:mod:`.sessions`) and,
in PostgreSQL mode, the rate-limit counters and socket slots (:mod:`.ratelimit`) are written
once, in SQLite's dialect with ``?`` parameters; :class:`Postgres` rewrites the parameters and
supplies what differs (the schema's types, the exclusive lock, the errors, the secret's home).
Everything above this module sees one interface:

- ``with db.connection() as c: c.execute(sql, params)`` (autocommit; ``with db.transaction(lock)``
  for several statements that must see no other writer in between);
- ``db.integrity_errors`` / ``db.errors``: the duplicate-key error and every database error;
- ``db.schema(text)``: a ``CREATE TABLE`` in this database's types.

A SQLite connection is opened per use (cheap, and the file may be shared by several processes);
PostgreSQL keeps one connection per process (a new one costs a server process), used by one
thread or greenlet at a time and opened again after a failure or a fork.
"""

import hashlib
import os
import sqlite3
import threading
from contextlib import contextmanager
from urllib.parse import urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
INSTALL_HINT = "a postgresql:// key store needs psycopg: pip install 'unified-api-server[postgres]'"


def is_postgres_url(location):
    """Tell whether ``location`` names a PostgreSQL database rather than a SQLite file."""
    return urlsplit(os.fspath(location)).scheme in POSTGRES_SCHEMES


def redact(location):
    """Return ``location`` without a password, for messages and logs."""
    location = os.fspath(location)
    parts = urlsplit(location)
    if parts.password is None:
        return location
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def open_database(location):
    """Return the :class:`SQLite` or :class:`Postgres` database at ``location`` (path or URL)."""
    return Postgres(location) if is_postgres_url(location) else SQLite(location)


@contextmanager
def immediate(connection):
    """Run the block in a SQLite write transaction (``BEGIN IMMEDIATE``) on ``connection``."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


class SQLite:
    """A SQLite file in WAL mode, shared by the processes of one host."""

    kind = "sqlite"
    integrity_errors = (sqlite3.IntegrityError,)
    errors = (sqlite3.Error,)

    def __init__(self, path):
        self.path = os.fspath(path)
        self.location = self.path

    @staticmethod
    def schema(text):
        """Return the ``CREATE TABLE`` statement ``text`` as SQLite takes it."""
        return text

    def prepare(self):
        """Make the file's folder and WAL mode; return True when the file is new."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        created = not os.path.exists(self.path)
        with self.connection() as connection:
            connection.execute("PRAGMA journal_mode = WAL")
        if created:
            try:
                os.chmod(self.path, 0o600)
            except OSError:
                pass
        return created

    @contextmanager
    def connection(self):
        """Yield a fresh autocommit connection; closed afterwards."""
        connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            connection.execute("PRAGMA busy_timeout = 5000")
            yield connection
        finally:
            connection.close()

    @contextmanager
    def transaction(self, lock=None):
        """Yield a connection inside a write transaction no other writer can interleave."""
        with self.connection() as connection, immediate(connection):  # ``lock``: the file
            yield connection

    def table_columns(self, connection, table):
        """Return the names of ``table``'s columns."""
        return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


class _PostgresConnection:
    """psycopg's connection taking SQLite's ``?`` parameters (our SQL holds no other ``?``)."""

    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql, params=()):
        """Run ``sql`` with ``?`` parameters; return the cursor."""
        return self.raw.execute(sql.replace("%", "%%").replace("?", "%s"), params)


class Postgres:
    """A PostgreSQL database shared by every gateway of a deployment, on any host."""

    kind = "postgresql"

    def __init__(self, url):
        try:
            import psycopg  # only a postgresql:// store needs the client
        except ImportError:
            raise RuntimeError(INSTALL_HINT) from None
        self.psycopg = psycopg
        self.location = os.fspath(url)
        self.integrity_errors = (psycopg.errors.IntegrityError,)
        self.errors = (psycopg.Error,)
        self._raw = None
        self._pid = None
        self._lock = threading.RLock()

    @staticmethod
    def schema(text):
        """Return SQLite's ``CREATE TABLE`` statement ``text`` in PostgreSQL's types."""
        text = text.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
        return text.replace("id INTEGER PRIMARY KEY", "id BIGSERIAL PRIMARY KEY").replace(
            " REAL", " DOUBLE PRECISION"
        )

    def prepare(self):
        """Nothing to make beforehand (the database exists); never new as a file is."""
        return False

    def _open(self):
        if self._raw is None or self._raw.closed or self._pid != os.getpid():
            self._raw = self.psycopg.connect(self.location, autocommit=True, connect_timeout=5)
            self._pid = os.getpid()
        return self._raw

    def backend_pid(self):
        """Return the server process id of this process's connection."""
        with self.connection() as connection:
            return connection.execute("SELECT pg_backend_pid()").fetchone()[0]

    @contextmanager
    def connection(self):
        """Yield this process's autocommit connection; reopened next time if it failed."""
        with self._lock:
            raw = self._open()
            try:
                yield _PostgresConnection(raw)
            except self.psycopg.OperationalError:
                raw.close()  # the server went away: the next use connects again
                raise

    @contextmanager
    def transaction(self, lock="store"):
        """Yield a connection inside a transaction holding the advisory lock named ``lock``."""
        with self.connection() as connection, connection.raw.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(?)", (lock_id(lock),))
            yield connection

    def table_columns(self, connection, table):
        """Return the names of ``table``'s columns (in the connection's search path)."""
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = ? AND table_schema = current_schema()",
            (table,),
        )
        return {row[0] for row in rows}


def lock_id(name):
    """Return a stable 63-bit advisory lock number for ``name``."""
    digest = hashlib.sha256(f"unified_api_server:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
