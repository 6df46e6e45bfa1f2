"""The key store and ``keys`` command line (in-process; the store is a real SQLite file, then
a real PostgreSQL database)."""

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from tests.gateway.keystores import BACKENDS, dump, flags, location
from unified_api_server.gateway.keys import KeyStore, ensure_admin_key
from unified_api_server.tools.keys import keys as keys_cli


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    """Return a fresh key store: a SQLite file, then a PostgreSQL schema."""
    return location(request.param, tmp_path, request)


@pytest.fixture()
def sqlite_db(tmp_path):
    """Return a fresh SQLite key store path (for the file's own older layouts)."""
    return str(tmp_path / "sub" / "keys.sqlite3")


def run(capsys, *argv):
    """Run the keys CLI; return (exit status, stdout, stderr)."""
    result = CliRunner().invoke(keys_cli, list(argv))
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_only_the_key(capsys, db):
    """``keys create`` prints the new key alone on stdout."""
    status, out, err = run(capsys, "create", "--name", "ci", "--scopes", "read,write", *flags(db))
    assert status == 0
    assert re.fullmatch(r"uas_[A-Za-z0-9_-]{43}\n", out)
    assert "ci" in err
    record = KeyStore(db).list()[0]
    assert record.name == "ci" and record.scopes == ("read", "write") and record.expires_at is None


def test_keys_are_stored_only_as_hashes(capsys, db):
    """Neither the key nor a long part of it is in the store file."""
    _, out, _ = run(capsys, "create", "--name", "h", *flags(db))
    key = out.strip()
    stored = dump(db)
    assert "uas_" in stored and key not in stored and key[4:20] not in stored


def test_list_shows_no_secrets(capsys, db):
    """``keys list`` names keys, scopes and state, never the secret."""
    _, key, _ = run(capsys, "create", "--name", "listed", "--scopes", "admin", *flags(db))
    status, out, _ = run(capsys, "list", *flags(db))
    assert status == 0 and "listed" in out and "admin" in out and "active" in out
    assert key.strip() not in out
    status, out, _ = run(capsys, "list", "--json", *flags(db))
    assert status == 0 and key.strip() not in out and '"listed"' in out


def test_revoke_and_errors(capsys, db):
    """Revoke works once a key exists; bad input exits 1 with a message on stderr."""
    run(capsys, "create", "--name", "a", *flags(db))
    assert run(capsys, "revoke", "a", *flags(db))[0] == 0
    assert "revoked" in run(capsys, "list", *flags(db))[1]
    for argv in (
        ["revoke", "missing"],
        ["create", "--name", "a"],
        ["create", "--name", "b", "--scopes", "root"],
        ["create", "--name", "c", "--expires", "2000-01-01T00:00:00+00:00"],
        ["create", "--name", "d", "--expires", "tomorrow"],
        ["create", "--name", "e", "--expires-in", "-1"],
        ["create", "--name", "f", "--rate", "-1"],
        ["create", "--name", "g", "--burst", "0"],
        ["set-rate", "missing", "--rate", "5"],
        ["set-rate", "a", "--rate", "nan"],
    ):
        status, out, err = run(capsys, *argv, *flags(db))
        assert status == 1 and out == "" and err.startswith("Error:"), argv


def test_a_keys_rate_is_set_at_creation_and_changeable(capsys, db):
    """``--rate``/``--burst`` at creation, ``set-rate`` later; ``list`` shows them."""
    assert run(capsys, "create", "--name", "ci", "--rate", "5", "--burst", "20", *flags(db))[0] == 0
    record = KeyStore(db).list()[0]
    assert (record.rate, record.burst) == (5.0, 20)
    assert "5/s x20" in run(capsys, "list", *flags(db))[1]
    assert run(capsys, "set-rate", "ci", "--rate", "0", *flags(db))[0] == 0
    record = KeyStore(db).list()[0]
    assert (record.rate, record.burst) == (0.0, None)
    assert "none" in run(capsys, "list", *flags(db))[1]


def test_a_store_made_before_rates_gains_the_columns(sqlite_db):
    """A key store from before rate limits opens, and its keys get the gateway's defaults."""
    import os

    db = sqlite_db
    os.makedirs(os.path.dirname(db))
    with sqlite3.connect(db) as connection:
        connection.execute(
            "CREATE TABLE api_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL "
            "UNIQUE, key_hash TEXT NOT NULL UNIQUE, hint TEXT NOT NULL, scopes TEXT NOT NULL, "
            "created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT, last_used_at TEXT)"
        )
        connection.execute(
            "INSERT INTO api_keys (name, key_hash, hint, scopes, created_at) "
            "VALUES ('old', 'x', 'uas_x...', 'read', '2026-01-01T00:00:00+00:00')"
        )
    record = KeyStore(db).list()[0]
    assert record.name == "old" and record.rate is None and record.burst is None


def test_expiry_and_authentication(capsys, db):
    """Keys with a future expiry work; expired, revoked and unknown keys do not."""
    _, out, _ = run(capsys, "create", "--name", "x", "--expires-in", "2", *flags(db))
    store = KeyStore(db, cache_ttl=0)
    record, problem = store.authenticate(out.strip())
    assert problem is None and record.expires_at > datetime.now(UTC) + timedelta(days=1)
    assert record.name == "x"
    assert store.list()[0].last_used_at is not None
    old = store.create("old", "read", datetime.now(UTC) - timedelta(seconds=1))
    assert store.authenticate(old) == (None, "has expired")
    assert store.authenticate("uas_nope")[1] == "is not valid"
    store.revoke("x")
    assert store.authenticate(out.strip()) == (None, "has been revoked")


def test_ensure_admin_key_only_when_empty(db):
    """The first admin key is made for an empty store, and only then."""
    key = ensure_admin_key(db)
    assert key and KeyStore(db).authenticate(key)[0].scopes == ("admin",)
    assert ensure_admin_key(db) is None


def test_the_data_dir_names_the_store_in_every_command(tmp_path):
    """keys reads --data-dir and UAS_DATA_DIR as the launcher does: DATA_DIR/keys.sqlite3."""
    folder = tmp_path / "srv"
    result = CliRunner().invoke(keys_cli, ["create", "--name", "a", "--data-dir", str(folder)])
    assert result.exit_code == 0 and KeyStore(folder / "keys.sqlite3").list()[0].name == "a"
    env = {"UAS_DATA_DIR": str(folder)}
    result = CliRunner().invoke(keys_cli, ["create", "--name", "b"], env=env)
    assert result.exit_code == 0
    assert [r.name for r in KeyStore(folder / "keys.sqlite3").list()] == ["a", "b"]


def test_a_bad_or_unreachable_keys_url_is_named(capsys, tmp_path):
    """``--keys-url`` must be PostgreSQL's, and a server that does not answer is said so."""
    from tests.support import dead_url

    status, _, err = run(capsys, "list", "--keys-url", "mysql://u@127.0.0.1/keys")
    assert status == 1 and "keys_url: expected postgresql://" in err
    port = dead_url().rsplit(":", 1)[1]
    status, _, err = run(capsys, "list", "--keys-url", f"postgresql://u@127.0.0.1:{port}/keys")
    assert status == 1 and "cannot use the key store: connection failed" in err
