"""The migration API: ``GET /migrations`` lists them, ``POST /migrations/apply`` applies them.

Applying needs the admin scope at the gateway (see :mod:`unified_api_server.gateway.routing`).
It backs the database file up first, then applies every pending migration in one
transaction: all of them, or, when one fails, none.
"""

from flask import jsonify, request

from unified_api_server.core.data.migrate import PROBLEMS, MigrationError, checksum, problem
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import parse_bool
from unified_api_server.core.web.resources import ComponentView, state

# What each kind of MigrationError answers: (status, code).
_ANSWERS = {
    "conflict": (409, "migration_conflict"),
    "failed": (500, "migration_failed"),
    "busy": (503, "service_unavailable"),
}


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
        unknown = sorted(set(request.args) - {"dry_run"})
        if unknown:
            raise ApiError(
                400, f"unknown query parameter(s): {', '.join(unknown)}", {"allowed": ["dry_run"]}
            )
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
