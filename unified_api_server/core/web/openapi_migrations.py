"""The migration routes as OpenAPI operations (see :mod:`.openapi_ops`)."""

from unified_api_server.core.web import openapi_ops as ops

_INTEGER = {"type": "integer"}


def migrations(c, method, rule):
    """``/migrations``: every schema migration, applied or pending, with its checksum."""
    row = ops.obj(
        {
            "version": _INTEGER,
            "name": {"type": "string"},
            "checksum": {"type": "string", "description": "sha256 of the migration's SQL"},
            "status": {"type": "string", "enum": ["applied", "pending", "changed", "unknown"]},
            "applied_at": {"type": "string", "format": "date-time", "nullable": True},
        }
    )
    fields = {
        "migrations": {"type": "array", "items": row},
        "applied": _INTEGER,
        "pending": _INTEGER,
        "problems": {"type": "array", "items": {"type": "string"}},
        "auto_migrate": {"type": "boolean"},
    }
    answers = {**ops.ok(ops.obj(fields, ("migrations",))), **ops.error_responses(400, 503)}
    return [(rule, {"responses": answers})]


def migrations_apply(c, method, rule):
    """``/migrations/apply``: back up, then apply every pending migration, all or none."""
    row = ops.obj({"version": _INTEGER, "name": {"type": "string"}, "checksum": {"type": "string"}})
    fields = {
        "dry_run": {"type": "boolean"},
        "applied": {"type": "array", "items": row},
        "would_apply": {"type": "array", "items": row, "description": "with each one's sql"},
        "backup": {"type": "string", "nullable": True, "description": "the copy made first"},
    }
    dry_run = ops.query(
        "dry_run", {"type": "boolean"}, "tell what would be applied; change nothing"
    )
    description = (
        "Needs the admin scope. A migration that fails leaves the database as it was (500, "
        "code migration_failed); files that disagree with the database refuse it (409)."
    )
    failed = {"description": "a migration failed: nothing was applied"}
    failed["content"] = {"application/json": {"schema": "Error"}}
    answers = {**ops.ok(ops.obj(fields, ("dry_run", "backup"))), "500": failed}
    answers.update(ops.error_responses(400, 409, 503))
    return [(rule, {"responses": answers, "parameters": [dry_run], "description": description})]
