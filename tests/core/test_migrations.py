"""The migration API and command: list with checksums, dry runs, backups, all or nothing.

Each test writes a migrations package of its own (the test component's first migration, then
what the test adds) and builds the test component's real app over it on a real DuckDB file.
"""

import dataclasses
import hashlib
import itertools
import os
import subprocess
import sys

import duckdb
import pytest
from click.testing import CliRunner

from tests.contract.api import assert_error
from tests.support import REPO
from unified_api_server.core.data.database import Database, MigrationError, load_migrations
from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME
from unified_api_server.tools.migrate import migrate

TEST = BY_NAME["test"]
FIRST = os.path.join(REPO, "unified_api_server", "components", "test", "migrations")
ADD_OWNER = (
    "ALTER TABLE test_runs ADD COLUMN owner VARCHAR;\nCREATE TABLE test_notes (x INTEGER);\n"
)
BROKEN = "CREATE TABLE test_more (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
BASE = "/api/test/db"
_numbers = itertools.count()


@pytest.fixture
def versions(tmp_path, monkeypatch):
    """Return ``make(*extra)``: the test component over its first migration plus ``extra``."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(*extra):
        package = f"migrations_{next(_numbers)}_{os.getpid()}"
        folder = tmp_path / package / "migrations"
        folder.mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
        with open(os.path.join(FIRST, "001_initial.sql"), encoding="utf-8") as handle:
            (folder / "001_initial.sql").write_text(handle.read())
        for file_name, sql in extra:
            (folder / file_name).write_text(sql)
        return dataclasses.replace(TEST, migrations_package=package)

    return make


def app_for(component, db_path, **config):
    """Return a test client of ``component``'s app on ``db_path``."""
    return create_app(component, {"db_path": str(db_path), **config}).test_client()


def close(client):
    """Close the database of ``client``'s app, so another opener may have the file."""
    client.application.extensions["component"].database.close()


def schema_and_data(path):
    """Return every column of every table and every run id of the file at ``path``."""
    with duckdb.connect(str(path), read_only=True) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY ALL"
        ).fetchall()
        runs = connection.execute("SELECT run_id FROM test_runs ORDER BY run_id").fetchall()
        applied = connection.execute("SELECT version FROM schema_migrations").fetchall()
    return columns, runs, applied


@pytest.fixture
def db_path(tmp_path, versions):
    """Return a database file at the first migration, holding one run."""
    path = tmp_path / "data" / "test.duckdb"
    client = app_for(versions(), path)
    response = client.post(f"{BASE}/runs", json={"model_name": "bert", "run_id": "r1"})
    assert response.status_code == 201
    close(client)
    return path


def test_a_fresh_database_is_migrated_at_start_by_default(tmp_path, versions):
    client = app_for(versions(("002_add_owner.sql", ADD_OWNER)), tmp_path / "fresh.duckdb")
    body = client.get(f"{BASE}/migrations").get_json()
    assert [m["status"] for m in body["migrations"]] == ["applied", "applied"]
    assert body["pending"] == 0 and body["auto_migrate"] is True
    close(client)


def test_applied_and_pending_are_listed_with_checksums(db_path, versions):
    component = versions(("002_add_owner.sql", ADD_OWNER))
    client = app_for(component, db_path, auto_migrate=False)
    body = client.get(f"{BASE}/migrations").get_json()
    close(client)
    first, second = body["migrations"]
    assert (first["version"], first["status"]) == (1, "applied") and first["applied_at"]
    assert (second["version"], second["name"], second["status"]) == (2, "add_owner", "pending")
    assert second["checksum"] == hashlib.sha256(ADD_OWNER.encode()).hexdigest()
    assert second["applied_at"] is None
    sql = dict((v, s) for v, _, s in load_migrations(component.migrations_package))
    assert first["checksum"] == hashlib.sha256(sql[1].encode()).hexdigest()
    assert (body["applied"], body["pending"], body["problems"]) == (1, 1, [])


def test_a_dry_run_tells_the_sql_and_changes_nothing(db_path, versions):
    before = schema_and_data(db_path)
    client = app_for(versions(("002_add_owner.sql", ADD_OWNER)), db_path, auto_migrate=False)
    response = client.post(f"{BASE}/migrations/apply", query_string={"dry_run": "true"})
    close(client)
    assert response.status_code == 200
    body = response.get_json()
    assert body["dry_run"] is True and body["backup"] is None
    assert [(m["version"], m["sql"]) for m in body["would_apply"]] == [(2, ADD_OWNER)]
    assert schema_and_data(db_path) == before
    assert not (db_path.parent / "backups").exists()


def test_apply_backs_up_first_then_applies(db_path, versions):
    before = schema_and_data(db_path)
    client = app_for(versions(("002_add_owner.sql", ADD_OWNER)), db_path, auto_migrate=False)
    response = client.post(f"{BASE}/migrations/apply")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [m["name"] for m in body["applied"]] == ["add_owner"] and body["dry_run"] is False
    backup = body["backup"]
    assert os.path.dirname(backup) == str(db_path.parent / "backups")
    assert schema_and_data(backup) == before  # the copy opens, as the database stood
    listed = client.get(f"{BASE}/migrations").get_json()
    assert listed["pending"] == 0
    again = client.post(f"{BASE}/migrations/apply").get_json()
    assert again == {"dry_run": False, "applied": [], "backup": None}
    close(client)
    columns, runs, applied = schema_and_data(db_path)
    assert ("test_runs", "owner", "VARCHAR") in columns and runs == [("r1",)]
    assert applied == [(1,), (2,)]


def test_a_failing_migration_leaves_the_database_as_it_was(db_path, versions):
    before = schema_and_data(db_path)
    component = versions(("002_add_owner.sql", ADD_OWNER), ("003_broken.sql", BROKEN))
    client = app_for(component, db_path, auto_migrate=False)
    response = client.post(f"{BASE}/migrations/apply")
    error = assert_error(response, 500)
    assert error["code"] == "migration_failed" and "003_broken" in error["message"]
    assert error["details"]["migration"] == "003_broken"
    assert os.path.exists(error["details"]["backup"])
    assert client.get(f"{BASE}/migrations").get_json()["pending"] == 2
    assert client.get(f"{BASE}/runs").get_json()["count"] == 1  # still serving
    close(client)
    assert schema_and_data(db_path) == before


def test_a_failing_migration_at_start_stops_the_start_and_changes_nothing(db_path, versions):
    before = schema_and_data(db_path)
    component = versions(("002_add_owner.sql", ADD_OWNER), ("003_broken.sql", BROKEN))
    with pytest.raises(MigrationError, match="003_broken"):
        app_for(component, db_path)
    assert schema_and_data(db_path) == before


def test_an_edited_applied_migration_is_flagged_and_stops_applying(db_path, versions, tmp_path):
    component = versions(("002_add_owner.sql", ADD_OWNER))
    edited = tmp_path / component.migrations_package / "migrations" / "001_initial.sql"
    edited.write_text(edited.read_text() + "\n-- edited\n")
    client = app_for(component, db_path, auto_migrate=False)
    body = client.get(f"{BASE}/migrations").get_json()
    assert body["migrations"][0]["status"] == "changed"
    assert "001_initial changed after it was applied" in body["problems"][0]
    error = assert_error(client.post(f"{BASE}/migrations/apply"), 409)
    assert error["code"] == "migration_conflict" and error["details"]["migration"] == "001_initial"
    close(client)
    assert schema_and_data(db_path)[2] == [(1,)]


def test_unknown_parameters_are_refused(db_path, versions):
    client = app_for(versions(), db_path)
    assert_error(client.post(f"{BASE}/migrations/apply", query_string={"dryrun": "1"}), 400)
    assert_error(client.post(f"{BASE}/migrations/apply", query_string={"dry_run": "x"}), 400)
    close(client)


def test_the_migrate_command_dry_run_then_apply(tmp_path):
    data = tmp_path / "data"
    for component in ("test", "benchmark"):
        Database(str(data / f"{component}.duckdb"), []).ping()  # an empty, unmigrated file
    runner = CliRunner()
    args = ["--data-dir", str(data), "--component", "test", "--component", "benchmark"]
    dry = runner.invoke(migrate, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "test: would apply 001_initial, 002_alerts (dry run: nothing changed)" in dry.output
    assert "CREATE TABLE test_runs" in dry.output
    assert not (data / "backups").exists()
    done = runner.invoke(migrate, args)
    assert done.exit_code == 0, done.output
    assert "test: applied 001_initial, 002_alerts; backup before: " in done.output
    assert len(os.listdir(data / "backups")) == 2
    again = runner.invoke(migrate, args)
    assert "benchmark: up to date, nothing to apply" in again.output
    assert schema_and_data(data / "test.duckdb")[2] == [(1,), (2,)]


def test_the_migrate_command_points_to_the_api_when_a_service_holds_the_file(tmp_path):
    path = tmp_path / "test.duckdb"
    holder = Database(str(path), load_migrations(TEST.migrations_package))
    holder.ping()
    try:
        argv = ["migrate", "--component", "test", "--db-path", str(path)]
        result = subprocess.run(
            [sys.executable, "-m", "unified_api_server", *argv],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
    finally:
        holder.close()
    assert result.returncode == 1
    assert "in use by a running service" in result.stderr
    assert "POST /api/test/db/migrations/apply" in result.stderr
