"""Roles: named sets of scopes, kept in the key store beside the keys.

A key holds scopes of its own and roles; what it may do is the union of its scopes and its roles'
scopes. Four roles are built in and cannot be changed or deleted (so what they mean is the same in
every deployment); custom roles can be created, changed and deleted. A role still given to a key
cannot be deleted: take it from those keys first. A change reaches every gateway within the key
cache's TTL (2 s by default), as a revocation does.
"""

import re
from dataclasses import dataclass

from unified_api_server.gateway.scopes import ALL_SCOPES
from unified_api_server.registry import NAMES

BUILT_IN = {
    "viewer": (("read",), "reads every component"),
    "ci-uploader": (
        ("read", "test:write", "benchmark:write"),
        "reads everything, uploads test and benchmark results",
    ),
    "operator": (("read", "write"), "reads and changes every component"),
    "admin": (("admin",), "everything, the schema and the metrics included"),
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS roles (
    name TEXT PRIMARY KEY,
    scopes TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    built_in INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
)
"""
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


class KeyStoreError(ValueError):
    """A key, role or scope operation cannot be done; the message says why."""


@dataclass(frozen=True)
class RoleRecord:
    """One role: its name, scopes, description and whether it is built in."""

    name: str
    scopes: tuple
    description: str
    built_in: bool
    updated_at: str

    def as_dict(self):
        """Return the role as JSON-ready data."""
        return {
            "name": self.name,
            "scopes": list(self.scopes),
            "description": self.description,
            "built_in": self.built_in,
            "updated_at": self.updated_at,
        }


def parse_scopes(text, allow_empty=False):
    """Parse ``"read,test:write"`` (or a list) into a tuple in canonical order, or raise."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    scopes = {part.strip().lower() for part in parts if part.strip()}
    unknown = sorted(scopes - set(ALL_SCOPES))
    if unknown or not (scopes or allow_empty):
        problem = f"unknown scope(s) {', '.join(unknown)}" if unknown else "no scope given"
        raise KeyStoreError(
            f"{problem}; scopes are read, write, admin, or COMPONENT:read|write|admin with"
            f" COMPONENT one of {', '.join(NAMES)} (e.g. test:read, benchmark:write)"
        )
    return tuple(s for s in ALL_SCOPES if s in scopes)


def split_names(text):
    """Split ``"viewer,ci-uploader"`` (or a list) into a tuple of unique names, in order."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    return tuple(dict.fromkeys(p.strip().lower() for p in parts if p.strip()))


def initialise(connection, now, schema=lambda text: text):
    """Create the roles table when missing (``schema`` adapts its DDL) and (re)write built-ins."""
    connection.execute(schema(_SCHEMA))
    for name, (scopes, description) in BUILT_IN.items():
        connection.execute(
            "INSERT INTO roles (name, scopes, description, built_in, updated_at)"
            " VALUES (?, ?, ?, 1, ?) ON CONFLICT (name) DO UPDATE SET scopes = excluded.scopes,"
            " description = excluded.description, built_in = 1"
            " WHERE roles.scopes != excluded.scopes OR roles.built_in = 0",
            (name, ",".join(scopes), description, now),
        )


def scopes_of(connection, names):
    """Return the union of the scopes of the roles ``names`` (unknown names add nothing)."""
    if not names:
        return set()
    marks = ",".join("?" * len(names))
    rows = connection.execute(f"SELECT scopes FROM roles WHERE name IN ({marks})", tuple(names))
    return {scope for (scopes,) in rows for scope in scopes.split(",") if scope}


def check_roles(connection, names):
    """Raise KeyStoreError unless every role in ``names`` exists."""
    known = {row[0] for row in connection.execute("SELECT name FROM roles")}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise KeyStoreError(
            f"no role named {', '.join(map(repr, unknown))}; roles: {', '.join(sorted(known))}"
        )


class RoleStore:
    """List, create, change and delete the roles of one key store."""

    def __init__(self, key_store):
        self.key_store = key_store

    def _run(self, action):
        with self.key_store._connect() as connection:
            return action(connection)

    def list(self):
        """Return every role, built-in ones first, then by name."""
        rows = self._run(
            lambda c: c.execute(
                "SELECT name, scopes, description, built_in, updated_at FROM roles"
                " ORDER BY built_in DESC, name"
            ).fetchall()
        )
        return [RoleRecord(n, tuple(s.split(",")), d, bool(b), u) for n, s, d, b, u in rows]

    def get(self, name):
        """Return the role ``name``; raise KeyStoreError when there is none."""
        for role in self.list():
            if role.name == name:
                return role
        raise KeyStoreError(f"no role named {name!r}")

    def create(self, name, scopes, description=""):
        """Create a custom role holding ``scopes``."""
        name = (name or "").strip().lower()
        if not _NAME.fullmatch(name):
            raise KeyStoreError(
                "a role name is 1 to 40 of a-z, 0-9, - and _, starting with a letter"
            )
        scopes = parse_scopes(scopes)
        now = self.key_store.now()

        def insert(connection):
            try:
                connection.execute(
                    "INSERT INTO roles (name, scopes, description, built_in, updated_at)"
                    " VALUES (?, ?, ?, 0, ?)",
                    (name, ",".join(scopes), description or "", now),
                )
            except self.key_store.db.integrity_errors:
                raise KeyStoreError(f"a role named {name!r} already exists") from None

        self._run(insert)
        return self.get(name)

    def _custom(self, name):
        role = self.get(name)
        if role.built_in:
            raise KeyStoreError(f"{name!r} is a built-in role and cannot be changed or deleted")
        return role

    def set(self, name, scopes=None, description=None):
        """Change a custom role's scopes and/or description; keys holding it follow."""
        role = self._custom(name)
        scopes = role.scopes if scopes is None else parse_scopes(scopes)
        description = role.description if description is None else description
        self._run(
            lambda c: c.execute(
                "UPDATE roles SET scopes = ?, description = ?, updated_at = ? WHERE name = ?",
                (",".join(scopes), description, self.key_store.now(), name),
            )
        )
        return self.get(name)

    def delete(self, name):
        """Delete a custom role; refuse while any key holds it."""
        self._custom(name)
        holders = [key.name for key in self.key_store.list() if name in key.roles]
        if holders:
            raise KeyStoreError(
                f"role {name!r} is given to key(s) {', '.join(holders)}; take it from them first"
                " (keys set NAME --roles ...)"
            )
        self._run(lambda c: c.execute("DELETE FROM roles WHERE name = ?", (name,)))
