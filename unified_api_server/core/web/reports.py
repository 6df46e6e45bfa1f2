"""What a component's database tells about its data: statistics, performance, search, export,
migrations, and report imports. One implementation for every component.
"""

from flask import Response, jsonify, request
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from unified_api_server.core.cache import cached
from unified_api_server.core.data import export, stats
from unified_api_server.core.data.query import Condition
from unified_api_server.core.errors import ApiError
from unified_api_server.core.schemas import create_schema, flatten_groups
from unified_api_server.core.web import alerts, limits
from unified_api_server.core.web.args import (
    only,
    parse_fields,
    parse_int,
    parse_limit,
    parse_query,
    select_fields,
)
from unified_api_server.core.web.http import json_body, raw_body
from unified_api_server.core.web.migrations import register_migrations
from unified_api_server.core.web.resources import ComponentView, answer, cursor, state

# Routes every component has beside its data's own views, each a ``DbRoutes``.
CORE_ROUTES = (alerts.ROUTES,)
TEXT_FIELDS = ("query", "format", "table")  # body fields that must be strings
LIST_TERMS = ("sort", "fields")  # written as comma lists in a query string


def _merged_args():
    """Return the query string plus, for a POST, the JSON body's fields, as one MultiDict."""
    params = MultiDict(request.args)
    if request.method != "POST":
        return params
    for key, value in json_body(required=False).items():
        values = value if isinstance(value, list) else [value]
        kinds = (str,) if key in TEXT_FIELDS else (str, int, float, bool)
        if not values or not all(isinstance(v, kinds) and v is not None for v in values):
            what = "a string" if key in TEXT_FIELDS else "a string, a number or a list of them"
            raise ApiError(400, f"{key}: must be {what}", {key: value})
        if key in LIST_TERMS or key.endswith("__in"):  # a JSON list is the comma list
            values = [",".join(str(v) for v in values)]
        params.setlist(key, [str(v) for v in values])
    return params


class Stats(ComponentView):
    """``/models/stats``, ``/hardware/stats`` and a component's own groupings (``/stats``)."""

    decorators = [cached("stats")]

    def __init__(self, component, key, answer_key):
        super().__init__(component)
        self.key = key
        self.answer_key = answer_key

    def get(self):
        """Return the shared statistics per group over all matching data."""
        query = parse_query(self.c, request.args)
        if self.key == "model_name":  # per model and over all, in one query
            groups, summary = stats.stats_with_summary(cursor(), self.c, query, self.key)
            return jsonify({self.answer_key: groups, "summary": summary})
        groups = stats.grouped_stats(cursor(), self.c, query, self.key)
        if self.answer_key == "groups":
            return jsonify({"group_by": list(self.key), "groups": groups})
        return jsonify({self.answer_key: groups})


class Performance(ComponentView):
    """``/performance``: daily trends, per-model and per-device stats, latest items, metrics."""

    decorators = [cached("performance")]  # its window moves with time too: cache_ttl bounds it

    def get(self):
        """Return daily trends, per-model and per-device stats, latest items and metrics."""
        days = parse_int(request.args.get("days"), "days", minimum=1, maximum=3650, default=30)
        args = MultiDict(request.args)
        args.pop("days", None)
        query = parse_query(self.c, args).plus(Condition("started_at", "within_days", days))
        latest, _ = state().reads.list(cursor(), query, 10)
        return jsonify(
            {
                "days": days,
                "daily_stats": stats.daily_stats(cursor(), self.c, query),
                "model_stats": stats.grouped_stats(cursor(), self.c, query, "model_name"),
                "hardware_stats": stats.grouped_stats(cursor(), self.c, query, "hardware"),
                f"latest_{self.c.entities}": latest,
                "metrics": stats.metric_stats(cursor(), self.c, query),
            }
        )


class Search(ComponentView):
    """``/search``: rank items matching a free-text query (GET, or POST with a JSON body)."""

    def get(self):
        """Rank items matching a free-text query over model, hardware, type, status and tags."""
        params = _merged_args()
        text = params.get("query")
        if not isinstance(text, str) or not text.strip() or len(text) > 256:
            raise ApiError(400, "query: give a search text of 1-256 characters")
        limit = parse_limit(params.get("limit"))
        query = parse_query(self.c, params, "search")
        chosen = parse_fields(self.c, params.get("fields"))
        ranked = not params.get("sort")
        results = stats.search(cursor(), state().reads, text.strip(), limit, query, ranked)
        return jsonify(
            {"query": text, "results": select_fields(results, chosen), "count": len(results)}
        )

    post = get


class Export(ComponentView):
    """``/export``: stream a table as JSON, NDJSON, CSV or Parquet (never to a server path)."""

    heavy = True

    def post(self):
        """Stream the selected table as JSON, NDJSON, CSV or Parquet in the response body."""
        params = _merged_args()
        fmt = params.pop("format", "json").lower()
        if fmt not in export.FORMATS:
            raise ApiError(400, f"format: must be one of {', '.join(export.FORMATS)}")
        if "path" in params or "output_path" in params:
            raise ApiError(
                400, "path: exports are streamed in the response, never written to a server path"
            )
        table = params.pop("table", None)
        query = parse_query(self.c, params, "export")
        fields = parse_fields(self.c, params.get("fields"), export.export_columns(self.c))
        sql, sql_params, name = export.export_query(
            self.c, query, table, ordered=bool(params.get("sort")), fields=fields
        )
        json_columns = [c.name for c in self.c.columns if c.kind == "json"] + ["metadata"]
        body = limits.bounded(export.stream(state().database, sql, sql_params, fmt, json_columns))
        response = Response(body, mimetype=export.FORMATS[fmt])
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response


class Import(ComponentView):
    """``/import/<format>``: store a report's items, all validated first, in one transaction."""

    heavy = True

    def __init__(self, component, importer):
        super().__init__(component)
        self.importer = importer
        self.creator = create_schema(component)(many=not importer.single)

    def post(self):
        """Store every item of a report; an item already imported is not stored twice."""
        importer = self.importer
        raw = raw_body(importer.description)
        only(request.args, importer.params)
        for name in importer.required:
            if not request.args.get(name):
                raise ApiError(400, f"{name}: required query parameter")
        bodies = importer.parse(raw, request.args)
        try:  # every item is validated before any is stored
            loaded = self.creator.load(bodies[0] if importer.single else bodies)
        except ValidationError as exc:
            if importer.single:
                raise
            raise ValidationError({importer.items_key: exc.normalized_messages()}) from None
        loaded = [
            flatten_groups(self.c, data) for data in ([loaded] if importer.single else loaded)
        ]
        results = state().writes.create_many(loaded)
        created = sum(1 for _, was_created in results if was_created)
        if importer.single:
            item = results[0][0]
            return answer(item, 201 if created else 200, self.item_url(item[self.c.id_column]))
        items = [item for item, _ in results]
        body = {self.c.entities: items, "count": len(items), "created": created}
        return answer(body, 201 if created else 200)


def register_reports(bp, component):
    """Add the report views of ``component`` to its database blueprint."""
    name = component.name
    groupings = [
        ("/models/stats", "model_name", "models"),
        ("/hardware/stats", "hardware", "hardware"),
    ]
    groupings += [(f"/{route}", tuple(keys), "groups") for route, keys in component.group_stats]
    for rule, key, answer_key in groupings:
        endpoint = f"{name}_stats_{rule.strip('/').replace('/', '_')}"
        bp.add_url_rule(rule, view_func=Stats.as_view(endpoint, component, key, answer_key))
    for rule, view in (
        ("/performance", Performance),
        ("/search", Search),
        ("/export", Export),
    ):
        bp.add_url_rule(rule, view_func=view.as_view(f"{name}_{rule[1:]}", component))
    register_migrations(bp, component)
    for importer in component.importers:
        bp.add_url_rule(
            f"/import/{importer.format}",
            view_func=Import.as_view(f"{name}_import_{importer.format}", component, importer),
        )
    for routes in (*CORE_ROUTES, *component.db_routes):
        routes.register(bp, component)
