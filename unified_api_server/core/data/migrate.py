"""Schema migrations: which are applied and which pending, applying them all or none, backups.

A migration is ``(version, name, sql)`` (see :func:`~.database.load_migrations`); its checksum
is the sha256 of its SQL as applied (``@include`` lines expanded). A recorded migration whose
file now gives another checksum is ``changed``, and one recorded with no file at all is
``unknown`` (the database was migrated by a newer release): either way the files no longer
describe the database, so nothing further is applied until a person sorts it out.
"""

import hashlib
import logging
import os
import shutil
from datetime import UTC, datetime

import duckdb

log = logging.getLogger(__name__)

TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "name VARCHAR NOT NULL, checksum VARCHAR NOT NULL, "
    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)
PROBLEMS = ("changed", "unknown")


class MigrationError(RuntimeError):
    """The migrations on disk and those recorded in the database disagree, or one failed."""

    def __init__(self, message, migration=None, kind="conflict"):
        super().__init__(message)
        self.migration = migration  # "002_name" of the migration at fault, when there is one
        self.kind = kind  # "conflict" (files and database disagree), "failed" or "busy"
        self.backup = None  # where the file was copied before a failed apply


def checksum(sql):
    """Return the sha256 (hex) of a migration's SQL."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def label(version, name):
    """Return a migration's file stem, e.g. ``002_add_owner``."""
    return f"{version:03d}_{name}"


def recorded(cursor):
    """Return the migrations recorded in the database, oldest first."""
    rows = cursor.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [
        {"version": v, "name": n, "checksum": c, "applied_at": a.isoformat()} for v, n, c, a in rows
    ]


def status(cursor, migrations):
    """Return every migration, applied, pending, changed or unknown, ordered by version."""
    applied = {row["version"]: row for row in recorded(cursor)}
    found = []
    for version, name, sql in migrations:
        row = applied.pop(version, None)
        entry = {"version": version, "name": name, "checksum": checksum(sql)}
        if row is None:
            entry.update(status="pending", applied_at=None)
        else:
            same = row["checksum"] == entry["checksum"]
            entry.update(status="applied" if same else "changed", applied_at=row["applied_at"])
            if not same:
                entry["applied_checksum"] = row["checksum"]
        found.append(entry)
    for row in applied.values():
        found.append({**row, "status": "unknown"})
    return sorted(found, key=lambda entry: entry["version"])


def problem(entry, path):
    """Return why ``entry`` (a :func:`status` row) stops further migrations, or None."""
    stem = label(entry["version"], entry["name"])
    if entry["status"] == "changed":
        return (
            f"migration {stem} changed after it was applied to {path}; add a new migration "
            "instead of editing an applied one (or restore its file)"
        )
    if entry["status"] == "unknown":
        return (
            f"migration {stem} is recorded in {path} but has no file here: the database was "
            "migrated by a newer release"
        )
    return None


def plan(cursor, migrations, path):
    """Return the pending migrations ``[(version, name, sql)]``; raise on a disagreement.

    A changed migration always stops it; an unknown one only when there is something to
    apply (an older release may still serve a newer schema, but not migrate it).
    """
    entries = status(cursor, migrations)
    states = {e["version"]: e["status"] for e in entries}
    pending = sorted(m for m in migrations if states[m[0]] == "pending")
    for entry in entries:
        why = problem(entry, path)
        if why and (entry["status"] == "changed" or pending):
            raise MigrationError(why, label(entry["version"], entry["name"]))
        if why:
            log.warning("%s", why)
    return pending


def apply(cursor, pending, path, translate=None):
    """Apply ``pending`` in one transaction: all of them or, when one fails, none.

    ``translate`` rewrites each migration's SQL for the storage (DuckLake takes no keys); the
    checksum recorded is that of the file's SQL, so both storages agree on the status.
    """
    cursor.begin()
    try:
        for version, name, sql in pending:
            log.info("applying migration %s to %s", label(version, name), path)
            try:
                cursor.execute(translate(sql) if translate else sql)
            except Exception as exc:
                stem = label(version, name)
                raise MigrationError(
                    f"migration {stem} failed, nothing was applied: {exc}", stem, "failed"
                ) from exc
            cursor.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
                [version, name, checksum(sql)],
            )
        cursor.commit()
    except BaseException:
        cursor.rollback()
        raise


def build_indexes(connection, statements, path, translate=None):
    """Run the ``CREATE INDEX IF NOT EXISTS`` ``statements`` kept beside the migrations, each
    in a transaction of its own, once the migrations are applied: DuckDB builds no index over
    rows updated in the same transaction, as a migration keying stored rows does. One that
    cannot be built (a migration pending: its column is missing) waits for the next open;
    reads scan instead. ``translate`` as for :func:`apply` (DuckLake: no indexes)."""
    for sql in statements:
        statement = translate(sql) if translate else sql
        if not statement.strip():
            continue
        try:
            connection.execute(statement)
        except duckdb.Error as exc:
            log.warning("index not built on %s (reads scan instead): %s", path, exc)


def backup_path(path, now=None):
    """Return a new timestamped path for a copy of the database file ``path``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(os.path.dirname(os.path.abspath(path)), "backups", f"{stem}-{stamp}.duckdb")


def backup(cursor, path):
    """Copy the database file ``path`` to the backups folder beside it; return the copy's path.

    The caller holds the process's write lock, so nothing is written meanwhile: after a
    CHECKPOINT the file alone holds every committed change, and a byte copy of it is a
    database as it stood. (No other process can write: DuckDB gives one process the file.)
    """
    cursor.execute("CHECKPOINT")
    wal = path + ".wal"
    if os.path.exists(wal) and os.path.getsize(wal):
        raise MigrationError(f"{path} could not be checkpointed; try again", kind="busy")
    target = backup_path(path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(path, target + ".part")
    os.replace(target + ".part", target)  # never a half-copied file under the final name
    log.info("backed up %s to %s", path, target)
    return target
