"""``storage = ducklake``: a component's tables in DuckLake, its catalog in PostgreSQL.

Several processes of one component (replicas, on one host or several) open the same catalog
and Parquet folder and serve and write the same tables. DuckLake has no keys, sequences or
indexes, so what the embedded database's constraints gave is kept another way:

- **One writer at a time.** Every write transaction holds a PostgreSQL advisory lock of the
  catalog's database (:meth:`LakeStorage.write_lock`), taken before the transaction starts,
  so it reads what the previous writer committed: an id checked absent stays absent until the
  commit, and child rows number themselves from the largest id stored (:meth:`new_ids`). A
  process that dies holding it loses its session, and PostgreSQL lets the lock go.
- **The change feed crosses processes** through ``NOTIFY``: each event a process publishes is
  sent on the catalog's channel, and every other process hands it to its own subscribers and
  moves its cache generation on.
- **Small files are compacted on a schedule**, by one process at a time.

The DuckLake and postgres extensions come from their wheels (the ``lake`` extra) and load with
DuckDB's signature check on; nothing is downloaded.
"""

import importlib
import logging
import os
import shutil
import tempfile
import threading
import uuid

import duckdb

from unified_api_server.core.data.ddl import for_ducklake
from unified_api_server.core.data.lake_catalog import Catalog, LakeError, catalog_name

log = logging.getLogger(__name__)

EXTENSIONS = (
    ("duckdb_extension_ducklake", "ducklake"),
    ("duckdb_extension_postgres_scanner", "postgres_scanner"),
)


def _quote(text):
    return "'" + str(text).replace("'", "''") + "'"


def extension_file(package):
    """Return the path of the DuckDB extension inside the installed wheel ``package``."""
    hint = (
        "storage = ducklake needs the lake extra (pip install 'unified-api-server[lake]'): "
        f"duckdb==1.5.5 with its ducklake and postgres extension wheels; this is duckdb "
        f"{duckdb.__version__}"
    )
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise LakeError(f"{package} is not installed; {hint}") from None
    folder = os.path.join(os.path.dirname(module.__file__), "extensions", f"v{duckdb.__version__}")
    found = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    files = [os.path.join(folder, name) for name in found if name.endswith(".duckdb_extension")]
    if not files:
        raise LakeError(f"{package} has no extension for duckdb {duckdb.__version__}; {hint}")
    return files[0]


class LakeStorage:
    """The DuckLake side of a :class:`~.database.Database`: connection, lock, ids, feed."""

    file_backed = False  # no file to copy before a migration: DuckLake keeps its snapshots

    def __init__(self, catalog_url, data_path, compact_interval=600.0, lock_timeout=30.0):
        if not catalog_url.startswith(("postgresql://", "postgres://")):
            raise LakeError(f"catalog_url must be a postgresql:// URL, got {catalog_url!r}")
        self.catalog_url = catalog_url
        self.data_path = os.path.join(os.path.abspath(data_path), "")
        self.path = f"ducklake:{catalog_name(catalog_url)}"  # what logs and /health name
        self.compact_interval = compact_interval
        self.catalog = Catalog(catalog_url, lock_timeout)
        self.origin = uuid.uuid4().hex  # this process, on the change channel
        self._extensions = None
        self._stop = threading.Event()

    # -- the DuckDB connection -------------------------------------------------------------------
    def _config(self, threads, memory_limit):
        return {
            "threads": threads,
            "memory_limit": memory_limit,
            "allow_unsigned_extensions": False,  # the wheels' binaries pass DuckDB's own check
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": True,
            "extension_directory": self._extensions,
        }

    def connect(self, threads, memory_limit):
        """Return a DuckDB connection whose default database is the lake (created if new)."""
        if self._extensions is None:
            self._extensions = tempfile.mkdtemp(prefix="uas-duckdb-extensions-")
        config = self._config(threads, memory_limit)
        attach = f"ducklake:postgres:{self.catalog_url}"
        os.makedirs(self.data_path, exist_ok=True)
        with self.catalog.write_lock():  # two replicas starting at once create it once
            setup = duckdb.connect(":memory:", config=config)
            try:
                for package, _ in EXTENSIONS:
                    setup.execute(f"INSTALL {_quote(extension_file(package))}")
                setup.execute(
                    f"ATTACH {_quote(attach)} AS lake (DATA_PATH {_quote(self.data_path)})"
                )
                stored = setup.execute(
                    "SELECT value FROM ducklake_options('lake') WHERE option_name = 'data_path'"
                ).fetchone()
            finally:
                setup.close()
        if stored and os.path.join(os.path.abspath(stored[0]), "") != self.data_path:
            raise LakeError(
                f"the catalog {self.path} keeps its data in {stored[0]}, not in data_path "
                f"{self.data_path}: every replica must name the same folder"
            )
        connection = duckdb.connect(attach, config=config)
        connection.execute("SET GLOBAL TimeZone = 'UTC'")
        self.catalog.hold_owner(self.origin)  # alive while this process is
        return connection

    def ddl(self, sql):
        """Return a migration's SQL as DuckLake takes it."""
        return for_ducklake(sql)

    @property
    def owner(self):
        """Return this process's name among the replicas (its jobs are tagged with it)."""
        return self.origin

    def orphaned(self, owner):
        """Tell whether the process ``owner`` is gone (its catalog session ended)."""
        return owner != self.origin and not self.catalog.owner_alive(owner)

    def write_lock(self):
        """Hold the catalog's write lock (every process of the component) for one write."""
        return self.catalog.write_lock()

    def new_ids(self, cursor, table, column, count):
        """Return the first of ``count`` fresh ids of ``column`` (the write lock is held)."""
        del count  # the ids after the largest stored are free: nobody else writes meanwhile
        return cursor.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}").fetchone()[0]

    def preflight(self):
        """Fail now, clearly, when the catalog or the extensions are out of reach."""
        for package, _ in EXTENSIONS:
            extension_file(package)
        try:
            self.catalog.ping()
        finally:
            self.catalog.close()  # the serving process opens its own sessions

    # -- the change feed and maintenance ----------------------------------------------------------
    def share_changes(self, feed):
        """Send ``feed``'s events to the other processes, and theirs to ``feed``'s listeners."""
        feed.forward = lambda text: self.catalog.notify(f"{self.origin}:{text}")

        def received(payload):
            origin, _, text = payload.partition(":")
            if origin != self.origin:
                feed.receive(text)

        self.catalog.listen(received, self._stop)

    def start_maintenance(self, maintain):
        """Call ``maintain()`` every ``compact_interval`` seconds until closed (0: never)."""
        if self.compact_interval <= 0:
            return

        def loop():
            while not self._stop.wait(self.compact_interval):
                try:
                    maintain()
                except Exception:  # a failed round is tried again at the next one
                    log.exception("DuckLake maintenance of %s failed", self.path)

        threading.Thread(target=loop, name="ducklake-maintenance", daemon=True).start()

    def maintain(self, cursor):
        """Merge small files, flush rows kept in the catalog, and drop what no snapshot needs.

        One process at a time does it (a second finds the lock taken and skips its round);
        the caller holds the write lock, so no write of this component conflicts with it.
        """
        if not self.catalog.try_lock_compaction():
            return False
        try:
            for sql in (
                "CALL ducklake_flush_inlined_data(current_database())",
                "CALL ducklake_merge_adjacent_files(current_database())",
                "CALL ducklake_expire_snapshots(current_database(), "
                "older_than => now() - INTERVAL 1 HOUR)",
                "CALL ducklake_cleanup_old_files(current_database(), "
                "older_than => now() - INTERVAL 1 HOUR)",
            ):
                cursor.execute(sql).fetchall()
            log.info("compacted %s", self.path)
            return True
        finally:
            self.catalog.unlock_compaction()

    def close(self):
        """Stop the listener and the maintenance, and close the catalog's sessions."""
        self._stop.set()
        self.catalog.close()
        if self._extensions is not None:
            shutil.rmtree(self._extensions, ignore_errors=True)
            self._extensions = None
