"""Roles and component scopes in the key store, and the ``roles``/``keys`` command lines."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from tests.gateway.keystores import BACKENDS, flags, location
from unified_api_server.gateway.keys import KeyStore, KeyStoreError
from unified_api_server.gateway.roles import RoleStore
from unified_api_server.tools.keys import keys as keys_cli
from unified_api_server.tools.roles import roles as roles_cli


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    """Return a fresh key store: a SQLite file, then a PostgreSQL schema."""
    return location(request.param, tmp_path, request)


def run(group, db, *argv):
    """Run a CLI group against ``db``; return the click result."""
    return CliRunner().invoke(group, [*argv, *flags(db)])


def test_built_in_roles_are_there_and_fixed(db):
    """viewer, ci-uploader, operator and admin exist in a new store and cannot be changed."""
    listed = json.loads(run(roles_cli, db, "list", "--json").stdout)
    assert {role["name"]: role["scopes"] for role in listed} == {
        "admin": ["admin"],
        "ci-uploader": ["read", "test:write", "benchmark:write"],
        "operator": ["read", "write"],
        "viewer": ["read"],
    }
    for argv in (("set", "viewer", "--scopes", "admin"), ("delete", "admin")):
        result = run(roles_cli, db, *argv)
        assert result.exit_code == 1 and "built-in" in result.stderr


def test_a_keys_scopes_are_its_own_and_its_roles(db):
    """Effective scopes are the union of the key's scopes and its roles' scopes."""
    assert run(roles_cli, db, "create", "gen-ops", "--scopes", "generator:write").exit_code == 0
    created = run(keys_cli, db, "create", "--name", "k", "--role", "viewer,gen-ops")
    assert created.exit_code == 0, created.output
    record, _ = KeyStore(db).authenticate(created.stdout.strip())
    assert record.scopes == () and record.roles == ("viewer", "gen-ops")
    assert record.effective == ("read", "generator:write")
    changed = run(keys_cli, db, "set", "k", "--scopes", "benchmark:admin", "--roles", "gen-ops")
    assert changed.exit_code == 0 and "may do generator:write,benchmark:admin" in changed.stderr
    listed = json.loads(run(keys_cli, db, "list", "--json").stdout)[0]
    assert listed["roles"] == ["gen-ops"] and listed["scopes"] == ["benchmark:admin"]
    assert "gen-ops" in run(keys_cli, db, "list").stdout


def test_bad_scopes_and_roles_are_refused_clearly(db):
    """Unknown scopes, unknown roles, or neither: exit 1 naming the problem."""
    result = run(keys_cli, db, "create", "--name", "a", "--scopes", "test:read,tests:write")
    assert result.exit_code == 1 and "tests:write" in result.stderr
    result = run(keys_cli, db, "create", "--name", "b", "--role", "nobody")
    assert result.exit_code == 1 and "no role named 'nobody'" in result.stderr
    result = run(keys_cli, db, "create", "--name", "c", "--scopes", "")
    assert result.exit_code == 1 and "at least one scope or role" in result.stderr
    result = run(roles_cli, db, "create", "Bad Name", "--scopes", "read")
    assert result.exit_code == 1 and "role name" in result.stderr
    assert run(keys_cli, db, "create", "--name", "d").exit_code == 0  # still read by default
    assert KeyStore(db).list()[0].scopes == ("read",)


def test_a_held_role_cannot_be_deleted(db):
    """Deleting a role a key holds is refused naming the key; once taken away, it goes."""
    roles = RoleStore(KeyStore(db))
    roles.create("uploader", "test:write,benchmark:write", "CI uploads")
    KeyStore(db).create("ci", "", roles=["uploader"])
    with pytest.raises(KeyStoreError, match="given to key\\(s\\) ci"):
        roles.delete("uploader")
    assert roles.set("uploader", "test:write").scopes == ("test:write",)
    KeyStore(db).set_access("ci", scopes="read", role_names="")
    roles.delete("uploader")
    assert "uploader" not in {role.name for role in roles.list()}


def test_an_old_store_gains_roles_in_place(tmp_path):
    """A store made before roles keeps its keys working and gains the roles table and column."""
    db = str(tmp_path / "keys.sqlite3")
    connection = sqlite3.connect(db)
    connection.execute(
        "CREATE TABLE api_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
        " key_hash TEXT NOT NULL UNIQUE, hint TEXT NOT NULL, scopes TEXT NOT NULL,"
        " created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT, last_used_at TEXT)"
    )
    connection.execute(
        "INSERT INTO api_keys (name, key_hash, hint, scopes, created_at) VALUES"
        " ('old', '3b5d5c3712955042212316173ccf37be800f4a1e5f9e3b1a3f1f1b6f0b6f6f6f', 'uas_x...',"
        " 'read,write', '2026-01-01T00:00:00+00:00')"
    )
    connection.commit()
    connection.close()
    store = KeyStore(db)
    old = store.list()[0]
    assert old.scopes == ("read", "write") and old.roles == () and old.effective == old.scopes
    store.set_access("old", role_names="admin")
    assert store.record_named("old", fresh=True).effective == ("read", "write", "admin")
