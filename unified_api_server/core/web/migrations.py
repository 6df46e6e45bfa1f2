"""The migration API: ``GET /migrations`` lists them, ``POST /migrations/apply`` applies them.

Applying needs the admin scope at the gateway (see :mod:`unified_api_server.gateway.routing`).
It backs the database file up first, then applies every pending migration in one
transaction: all of them, or, when one fails, none.
"""

import re

from flask import jsonify, request

from unified_api_server.core.data.migrate import (
    PROBLEMS,
    MigrationError,
    checksum,
    label,
    problem,
)
from unified_api_server.core.errors import ApiError, error_response, handle_unexpected
from unified_api_server.core.web.args import only, parse_bool
from unified_api_server.core.web.resources import ComponentView, state

# What each kind of MigrationError answers: (status, code).
_ANSWERS = {
    "conflict": (409, "migration_conflict"),
    "failed": (500, "migration_failed"),
    "busy": (503, "service_unavailable"),
}


_MISSING_TABLE = re.compile(r"Table with name (\w+) does not exist", re.IGNORECASE)


def _creates(sql, table):
    """Tell whether a migration's ``sql`` creates ``table``."""
    pattern = rf"CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(main\.)?{re.escape(table)}\b"
    return re.search(pattern, sql, re.IGNORECASE) is not None


def missing_schema(exc):
    """A query met a table (or column) the database lacks: with a migration pending (auto_migrate
    off), answer 503 ``migration_pending`` naming it and how to apply it; else it is a bug."""
    pending = state().database.pending_migrations()
    if not pending:
        return handle_unexpected(exc)
    found = _MISSING_TABLE.search(str(exc))
    table = found.group(1) if found else None
    cause = next((m for m in pending if table and _creates(m[2], table)), pending[0])
    stem = label(cause[0], cause[1])
    needs = f"table {table}" if table else "a part of the schema"
    name = state().component.name
    message = (
        f"this needs {needs}, which migration {stem} creates, and it is pending (auto_migrate "
        f"is off): apply it with POST /api/{name}/db/migrations/apply (admin scope), or stop "
        f"the service and run `unified-api-server migrate --component {name}`"
    )
    details = {"migration": stem, "table": table, "pending": [label(v, n) for v, n, _ in pending]}
    return error_response(503, message, details, code="migration_pending")


def listing():
    """Return every migration with its checksum and state, and what stops applying them."""
    database = state().database
    entries = database.migration_status()
    return {
        "migrations": entries,
        "applied": sum(1 for e in entries if e["status"] == "applied"),
        "pending": sum(1 for e in entries if e["status"] == "pending"),
        "problems": [problem(e, "this database") for e in entries if e["status"] in PROBLEMS],
        "auto_migrate": state().settings["auto_migrate"],
    }


class Migrations(ComponentView):
    """``/migrations``: the schema migrations, applied and pending, with their checksums."""

    def get(self):
        """List the schema migrations, applied and pending, with their checksums."""
        return jsonify(listing())


class ApplyMigrations(ComponentView):
    """``/migrations/apply``: back the database up, then apply every pending migration."""

    def post(self):
        """Apply the pending migrations after a backup, all or none (``dry_run=true``: tell)."""
        only(request.args, ["dry_run"])
        dry_run = parse_bool(request.args.get("dry_run"), "dry_run")
        try:
            applied, backup = state().database.apply_migrations(dry_run=dry_run)
        except MigrationError as exc:
            status, code = _ANSWERS[exc.kind]
            details = {"migration": exc.migration, "backup": exc.backup}
            raise ApiError(status, str(exc), details, code=code) from None
        rows = [
            {
                "version": v,
                "name": n,
                "checksum": checksum(sql),
                **({"sql": sql} if dry_run else {}),
            }
            for v, n, sql in applied
        ]
        body = {"dry_run": dry_run, "would_apply" if dry_run else "applied": rows}
        body["backup"] = backup
        return jsonify(body)


def register_migrations(bp, component):
    """Add the migration routes of ``component`` to its database blueprint."""
    name = component.name
    bp.add_url_rule("/migrations", view_func=Migrations.as_view(f"{name}_migrations", component))
    bp.add_url_rule(
        "/migrations/apply",
        view_func=ApplyMigrations.as_view(f"{name}_migrations_apply", component),
    )
