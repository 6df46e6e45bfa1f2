"""Key stores for the tests: a SQLite file, or a fresh schema in the session's PostgreSQL."""

import itertools
from urllib.parse import quote

import psycopg

from unified_api_server.gateway.sqlstore import is_postgres_url

BACKENDS = ("sqlite", "postgresql")
_numbers = itertools.count(1)


def database_url(server):
    """Return the URL of the session's key store database (made on first use)."""
    url = server.url("keys")
    if not server.psql("SELECT 1 FROM pg_database WHERE datname = 'keys'").strip():
        server.create_database("keys")
    return url


def fresh_url(server):
    """Return the URL of a new, empty schema: one key store, as fresh as a new file."""
    url = database_url(server)
    schema = f"store_{next(_numbers)}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return f"{url}?options={quote(f'-csearch_path={schema}')}"


def location(backend, tmp_path, request):
    """Return a new key store's location for ``backend`` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        return str(tmp_path / "sub" / "keys.sqlite3")
    return fresh_url(request.getfixturevalue("postgres"))


def flags(location):
    """Return the command-line flags naming the store at ``location``."""
    return ["--keys-url", location] if is_postgres_url(location) else ["--keys-db", location]


def dump(location):
    """Return every value stored in the key store at ``location``, as text."""
    if not is_postgres_url(location):
        import sqlite3

        with sqlite3.connect(location) as connection:
            return "\n".join(connection.iterdump())
    with psycopg.connect(location, autocommit=True) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        rows = [connection.execute(f"SELECT * FROM {t}").fetchall() for (t,) in tables]
    return repr(rows)
