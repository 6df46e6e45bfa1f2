"""Compaction of a DuckLake: small files merged and the catalog's rows flushed, data intact, one
process at a time."""

from unified_api_server.core.data.database import Database
from unified_api_server.core.data.lake import LakeStorage

MIGRATIONS = [(1, "numbers", "CREATE TABLE numbers (n BIGINT PRIMARY KEY, note VARCHAR);")]


def _open(postgres, tmp_path, name):
    storage = LakeStorage(postgres.url(name), tmp_path / "lake", compact_interval=0)
    return Database(None, MIGRATIONS, storage=storage)


def _files(database):
    cursor = database.cursor()
    try:
        return cursor.execute(
            "SELECT count(*) FROM ducklake_list_files(current_database(), 'numbers')"
        ).fetchone()[0]
    finally:
        cursor.close()


def test_compaction_merges_small_files_and_keeps_every_row(postgres, tmp_path):
    """Twelve loads of 20 rows are twelve files; compacted, fewer, and the same 240 rows."""
    postgres.create_database("compact_a")
    database = _open(postgres, tmp_path, "compact_a")
    other = LakeStorage(postgres.url("compact_a"), tmp_path / "lake")  # another replica's lock
    try:
        for load in range(12):
            database.run_write(
                lambda cur, load=load: cur.execute(
                    "INSERT INTO numbers SELECT range, 'x' FROM range(?, ?)",
                    [load * 20, load * 20 + 20],
                )
            )
        database.run_write(lambda cur: cur.execute("INSERT INTO numbers VALUES (-1, 'small')"))
        before = _files(database)
        assert before >= 12
        assert other.catalog.try_lock_compaction()  # another replica is compacting
        try:
            assert database.storage.maintain(database.connection.cursor()) is False
        finally:
            other.catalog.unlock_compaction()
        database.maintain()
        assert _files(database) < before
        cursor = database.cursor()
        try:
            found = cursor.execute("SELECT count(*), count(DISTINCT n), sum(n) FROM numbers")
            assert found.fetchone() == (241, 241, sum(range(240)) - 1)
        finally:
            cursor.close()
    finally:
        database.close()
        other.close()
