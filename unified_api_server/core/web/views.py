"""The generic database API of a component: one implementation serving every collection."""

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.datastructures import MultiDict

from unified_api_server.core.data import export, ingest, stats
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.http import json_body
from unified_api_server.core.web.query import Filters, parse_int, parse_limit
from unified_api_server.core.web.schemas import (
    BatchSchema,
    ChildRows,
    create_schema,
    flatten_groups,
    patch_schema,
)


def state():
    """Return this app's component, database and repository."""
    return current_app.extensions["component"]


def cursor():
    """Return the request's own cursor (closed at teardown)."""
    if "db_cursor" not in g:
        g.db_cursor = state().database.cursor()
    return g.db_cursor


def close_cursor(_exc=None):
    """Close the request's cursor, if it opened one."""
    cur = g.pop("db_cursor", None)
    if cur is not None:
        cur.close()


def _bool_arg(name):
    value = request.args.get(name, "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ApiError(400, f"{name}: must be true or false, got {value!r}")
    return value in ("true", "1", "yes")


def create_blueprint(component):
    """Return the blueprint of ``component``'s database API under ``/api/<name>/db``."""
    bp = Blueprint(f"{component.name}_db", __name__, url_prefix=f"/api/{component.name}/db")
    entity, entities, id_name = component.entity, component.entities, component.id_column
    creator, patcher, batch_schema = (
        create_schema(component)(),
        patch_schema(component)(),
        BatchSchema(),
    )
    child_fields = {child.key: ChildRows(child) for child in component.children}

    def location(item_id):
        return f"/api/{component.name}/db/{entity}/{item_id}"

    @bp.get(f"/{entities}")
    def list_items():
        """List items, newest first, filtered, one page at a time."""
        filters = Filters(component, request.args, allowed=("limit", "cursor"))
        limit = parse_limit(request.args.get("limit"))
        items, next_cursor = state().repository.list(
            cursor(), filters, limit, request.args.get("cursor")
        )
        return jsonify(
            {entities: items, "count": len(items), "limit": limit, "next_cursor": next_cursor}
        )

    @bp.post(f"/{entities}")
    def create_item():
        """Create one item with nested children (idempotent with a client id)."""
        data = flatten_groups(component, creator.load(json_body()))
        item_id, created = state().repository.create(data)
        item = state().repository.require(cursor(), item_id)
        response = jsonify(item)
        response.status_code = 201 if created else 200
        response.headers["Location"] = location(item_id)
        return response

    @bp.post(f"/{entities}/bulk")
    def bulk_items():
        """Load many flat items from NDJSON or a JSON array, all or nothing."""
        raw = request.get_data(cache=False)
        table = ingest.ndjson_to_table(component, raw)
        if table is None:
            table = ingest.rows_to_table(component, ingest.parse_rows(raw))
        stored = ingest.bulk_insert(component, state().database, table)
        state().changes.publish_bulk(table)
        return jsonify({"stored": stored}), 201

    @bp.get(f"/{entity}/<item_id>")
    def get_item(item_id):
        """Return one item with its children."""
        return jsonify(state().repository.require(cursor(), item_id))

    @bp.patch(f"/{entity}/<item_id>")
    def patch_item(item_id):
        """Change an item's status, progress, step, results or completion."""
        changes = flatten_groups(component, patcher.load(json_body()))
        state().repository.patch(item_id, changes)
        return jsonify(state().repository.require(cursor(), item_id))

    @bp.delete(f"/{entity}/<item_id>")
    def delete_item(item_id):
        """Delete one item and its children."""
        state().repository.delete(item_id)
        return jsonify({"deleted": True, id_name: item_id})

    @bp.post(f"/{entity}/<item_id>/<key>")
    def add_children(item_id, key):
        """Append steps, metrics or tags to an existing item."""
        child = component.child_by_key.get(key)
        if child is None:
            raise ApiError(
                404, f"no child collection {key!r}; one of {', '.join(component.child_by_key)}"
            )
        body = json_body(kind=(dict, list))
        if child.shape == "list" and isinstance(body, dict):
            body = [body]
        rows = child_fields[key].deserialize(body)
        state().repository.add_children(item_id, key, rows)
        return jsonify(state().repository.require(cursor(), item_id)), 201

    @bp.get("/batches")
    def list_batches():
        """List batches with member counts, newest first."""
        unknown = sorted(set(request.args) - {"limit", "cursor"})
        if unknown:
            raise ApiError(400, f"unknown query parameter(s): {', '.join(unknown)}")
        limit = parse_limit(request.args.get("limit"))
        batches, next_cursor = state().repository.list_batches(
            cursor(), limit, request.args.get("cursor")
        )
        return jsonify(
            {"batches": batches, "count": len(batches), "limit": limit, "next_cursor": next_cursor}
        )

    @bp.post("/batches")
    def create_batch():
        """Create a batch that items can then name in ``batch_id``."""
        batch_id = state().repository.create_batch(batch_schema.load(json_body(required=False)))
        response = jsonify(state().repository.get_batch(cursor(), batch_id))
        response.status_code = 201
        response.headers["Location"] = f"/api/{component.name}/db/batch/{batch_id}"
        return response

    @bp.get("/batch/<batch_id>")
    def get_batch(batch_id):
        """Return a batch, its counts and its first members."""
        batch = state().repository.get_batch(cursor(), batch_id)
        filters = Filters(component, MultiDict({"batch_id": batch_id}))
        limit = parse_limit(request.args.get("limit"))
        batch[entities], batch["next_cursor"] = state().repository.list(
            cursor(), filters, limit, request.args.get("cursor")
        )
        return jsonify(batch)

    @bp.delete("/batch/<batch_id>")
    def delete_batch(batch_id):
        """Delete a batch; members are detached unless ``<delete param>=true``."""
        delete_members = _bool_arg(component.batch_delete_param)
        affected = state().repository.delete_batch(batch_id, delete_members)
        key = f"{'deleted' if delete_members else 'detached'}_{entities}"
        return jsonify({"deleted": True, "batch_id": batch_id, key: affected})

    @bp.get("/models/stats")
    def model_stats():
        """Return statistics per model over all matching data."""
        filters = Filters(component, request.args)
        return jsonify(
            {
                "models": stats.grouped_stats(cursor(), component, filters, "model_name"),
                "summary": stats.summary_stats(cursor(), component, filters),
            }
        )

    @bp.get("/hardware/stats")
    def hardware_stats():
        """Return statistics per hardware device (a multi-device item counts for each)."""
        filters = Filters(component, request.args)
        return jsonify({"hardware": stats.grouped_stats(cursor(), component, filters, "hardware")})

    for route, keys in component.group_stats:
        _register_group_stats(bp, component, route, keys)

    @bp.get("/performance")
    def performance():
        """Return daily trends, per-model and per-device stats, latest items and metrics."""
        days = parse_int(request.args.get("days"), "days", minimum=1, maximum=3650, default=30)
        args = MultiDict(request.args)
        args.pop("days", None)
        filters = Filters(component, args)
        filters.add("t.started_at >= now() - to_days(?::INTEGER)", days)
        latest, _ = state().repository.list(cursor(), filters, 10)
        return jsonify(
            {
                "days": days,
                "daily_stats": stats.daily_stats(cursor(), component, filters),
                "model_stats": stats.grouped_stats(cursor(), component, filters, "model_name"),
                "hardware_stats": stats.grouped_stats(cursor(), component, filters, "hardware"),
                f"latest_{entities}": latest,
                "metrics": stats.metric_stats(cursor(), component, filters),
            }
        )

    @bp.route("/search", methods=["GET", "POST"])
    def search():
        """Rank items matching a free-text query over model, hardware, type, status and tags."""
        params = MultiDict(request.args)
        if request.method == "POST":
            for key, value in json_body(required=False).items():
                params.setlist(key, value if isinstance(value, list) else [value])
        query = params.pop("query", None)
        if not isinstance(query, str) or not query.strip() or len(query) > 256:
            raise ApiError(400, "query: give a search text of 1-256 characters")
        limit = parse_limit(params.pop("limit", None))
        filters = Filters(
            component, MultiDict((k, str(v)) for k, values in params.lists() for v in values)
        )
        results = stats.search(cursor(), state().repository, query.strip(), limit, filters)
        return jsonify({"query": query, "results": results, "count": len(results)})

    @bp.post("/export")
    def export_data():
        """Stream the selected table as JSON, NDJSON, CSV or Parquet in the response body."""
        params = MultiDict(request.args)
        for key, value in json_body(required=False).items():
            params.setlist(key, value if isinstance(value, list) else [value])
        fmt = str(params.pop("format", "json")).lower()
        if fmt not in export.FORMATS:
            raise ApiError(400, f"format: must be one of {', '.join(export.FORMATS)}")
        if "path" in params or "output_path" in params:
            raise ApiError(
                400, "path: exports are streamed in the response, never written to a server path"
            )
        table = params.pop("table", None)
        filters = Filters(
            component, MultiDict((k, str(v)) for k, values in params.lists() for v in values)
        )
        sql, sql_params, name = export.export_query(component, filters, table)
        json_columns = [c.name for c in component.columns if c.kind == "json"] + ["metadata"]
        body = export.stream(state().database, sql, sql_params, fmt, json_columns)
        response = Response(body, mimetype=export.FORMATS[fmt])
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response

    @bp.get("/migrations")
    def migrations():
        """List the schema migrations applied to this database."""
        return jsonify({"migrations": state().database.applied_migrations()})

    if component.extra_routes:
        component.extra_routes(bp, component)
    return bp


def _register_group_stats(bp, component, route, keys):
    def group_stats():
        filters = Filters(component, request.args)
        return jsonify(
            {
                "group_by": list(keys),
                "groups": stats.grouped_stats(cursor(), component, filters, keys),
            }
        )

    group_stats.__doc__ = f"Return statistics per {' x '.join(keys)} over all matching data."
    bp.add_url_rule(
        f"/{route}", f"group_stats_{route.replace('/', '_')}", group_stats, methods=["GET"]
    )
