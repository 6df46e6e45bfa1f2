"""DuckDB access: migrations recorded once, one process per file, --db-path honoured."""

import duckdb
import pytest
import requests

from tests.support import ServiceProcess
from unified_api_server.core.data.database import (
    Database,
    MigrationError,
    load_migrations,
)


def test_migrations_apply_once_and_are_recorded(tmp_path):
    path = str(tmp_path / "t.duckdb")
    migrations = load_migrations("unified_api_server.components.test")
    every = [version for version, *_ in migrations]
    first = Database(path, migrations)
    assert [m["version"] for m in first.applied_migrations()] == every
    first.close()
    second = Database(path, migrations)
    assert len(second.applied_migrations()) == len(every)
    second.close()


def test_an_applied_migration_that_changed_is_refused(tmp_path):
    path = str(tmp_path / "t.duckdb")
    original = Database(path, [(1, "initial", "CREATE TABLE a (x INTEGER);")])
    original.ping()
    original.close()
    changed = Database(path, [(1, "initial", "CREATE TABLE a (x BIGINT);")])
    with pytest.raises(MigrationError, match="changed after it was applied"):
        changed.ping()


def test_db_path_is_honoured(tmp_path):
    """ORIGIN defect 9: --db-path was ignored by every component."""
    target = tmp_path / "elsewhere" / "chosen.duckdb"
    service = ServiceProcess.component("test", tmp_path, extra_args=["--db-path", str(target)])
    try:
        service.wait_ready()
        response = requests.post(
            f"{service.url}/api/test/db/runs",
            json={"model_name": "bert", "run_id": "r1"},
            timeout=10,
        )
        assert response.status_code == 201
        health = requests.get(f"{service.url}/health", timeout=5).json()
        assert health["database"] == target.name  # the name only: /health is open
    finally:
        service.stop()
    with duckdb.connect(str(target), read_only=True) as connection:
        assert connection.execute("SELECT run_id FROM test_runs").fetchall() == [("r1",)]


def test_a_second_opener_of_the_same_file_is_refused_clearly(tmp_path):
    """DuckDB allows one process per file; a second opener is told why, not just failed."""
    import subprocess
    import sys

    path = str(tmp_path / "held.duckdb")
    holder = Database(path, [])
    holder.ping()
    code = (
        f"from unified_api_server.core.data.database import Database; Database({path!r}, []).ping()"
    )
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    holder.close()
    assert second.returncode != 0 and "in use by another process" in second.stderr


def test_a_file_that_is_no_database_is_named(tmp_path):
    """A component started on a file DuckDB cannot open exits 1, naming the file."""
    import subprocess
    import sys

    bogus = tmp_path / "not-a-database.duckdb"
    bogus.write_bytes(b"this is not a DuckDB file" * 100)
    argv = ["component", "test", "--port", "1", "--db-path", str(bogus)]
    result = subprocess.run(
        [sys.executable, "-m", "unified_api_server", *argv], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stderr
    assert f"cannot open database {bogus}" in result.stderr and "Traceback" not in result.stderr
