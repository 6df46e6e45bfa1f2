"""What each kind of component route takes and answers, as OpenAPI operations.

:data:`OPERATIONS` maps a view kind (the endpoint name without the component's prefix) to a
function ``(component, method, rule) -> [(rule, operation), ...]``; one Flask rule may give
several documented paths (``/run/<item_id>/<key>`` is one path per child table).
"""

from unified_api_server.core.web.args import parameters
from unified_api_server.core.web.args import query_parameter as query
from unified_api_server.core.web.openapi_bodies import schema_name
from unified_api_server.core.web.openapi_migrations import migrations, migrations_apply

ANY_OBJECT = {"type": "object", "additionalProperties": True}
_INTEGER = {"type": "integer"}
_FORMATS = {
    "json": {"type": "array", "items": ANY_OBJECT},
    "ndjson": {"type": "string"},
    "csv": {"type": "string"},
    "parquet": {"type": "string", "format": "binary"},
}
_MEDIA = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


def error_responses(*statuses):
    """Return references to the shared error responses for ``statuses``."""
    return {str(status): str(status) for status in statuses}


def ok(schema, status=200, description="OK", location=False):
    """Return a success response with a JSON ``schema`` (a registered name or a dict)."""
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if location:
        response["headers"] = {
            "Location": {"description": "URL of the resource", "schema": {"type": "string"}}
        }
    return {str(status): response}


def body(schema, required=True, media="application/json"):
    """Return a request body of ``media`` with ``schema``."""
    return {"required": required, "content": {media: {"schema": schema}}}


def obj(properties, required=()):
    """Return an inline object schema naming its fields (more are allowed)."""
    schema = {"type": "object", "properties": properties, "additionalProperties": True}
    if required:
        schema["required"] = list(required)
    return schema


def _page_params():
    return [
        query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size"),
        query("cursor", {"type": "string"}, "next_cursor of the previous page"),
    ]


def _op(responses, *errors, **rest):
    return {"responses": {**responses, **error_responses(400, 503, *errors)}, **rest}


def items(c, method, rule):
    """``/<entities>``: list (the query grammar) or create."""
    if method == "GET":
        page = ok(schema_name(c, "page"))
        return [(rule, _op(page, parameters=parameters(c, "list")))]
    created = {
        **ok(schema_name(c, "detail"), 200, "the same item was already stored", location=True),
        **ok(schema_name(c, "detail"), 201, "created", location=True),
    }
    return [(rule, _op(created, 409, 413, 415, requestBody=body(schema_name(c, "create"))))]


def bulk(c, method, rule):
    """``/<entities>/bulk``: NDJSON or a JSON array of flat rows."""
    rows = {"type": "array", "items": ANY_OBJECT, "minItems": 1}
    request = body(rows)
    request["content"]["application/x-ndjson"] = {"schema": {"type": "string"}}
    stored = ok(obj({"stored": _INTEGER}, ["stored"]), 201, "all rows stored")
    tables = {"type": "string", "enum": [c.entities, "batches", *c.child_by_key]}
    table = query("table", tables, f"the table the rows go to (default {c.entities}), as exported")
    return [(rule, _op(stored, 409, 413, 415, parameters=[table], requestBody=request))]


def item(c, method, rule):
    """``/<entity>/<id>``: read, change or delete one item."""
    detail = ok(schema_name(c, "detail"))
    if method == "GET":
        return [(rule, _op(detail, 404))]
    if method == "PATCH":
        return [(rule, _op(detail, 404, 409, 413, 415, requestBody=body(schema_name(c, "patch"))))]
    deleted = obj({"deleted": {"type": "boolean"}, c.id_column: {"type": "string"}}, ["deleted"])
    return [(rule, _op(ok(deleted), 404))]


def children(c, method, rule):
    """``/<entity>/<id>/<key>``: one documented path per child table."""
    found = []
    for child in c.children:
        operation = _op(
            ok(schema_name(c, "detail"), 201, "added; the item with all its children"),
            404,
            409,
            413,
            415,
            requestBody=body(schema_name(c, f"{child.key}_in")),
            summary=f"Append {child.key} to an existing {c.entity}",
        )
        found.append((rule.replace("<key>", child.key), operation))
    return found


def batches(c, method, rule):
    """``/batches``: list batches or create one."""
    if method == "GET":
        listed = {
            "batches": {"type": "array", "items": schema_name(c, "batch")},
            "count": _INTEGER,
            "limit": _INTEGER,
            "next_cursor": {"type": "string", "nullable": True},
        }
        return [(rule, _op(ok(obj(listed, listed)), parameters=_page_params()))]
    created = ok(schema_name(c, "batch"), 201, "created", location=True)
    return [(rule, _op(created, 409, 413, 415, requestBody=body("BatchCreate", required=False)))]


def batch(c, method, rule):
    """``/batch/<id>``: one batch with its first members, or delete it."""
    if method == "GET":
        members = {
            c.entities: {"type": "array", "items": schema_name(c, "")},
            "next_cursor": {"type": "string", "nullable": True},
        }
        shown = {"allOf": [schema_name(c, "batch"), obj(members, members)]}
        return [(rule, _op(ok(shown), 404, parameters=_page_params()))]
    param = c.batch_delete_param
    flag = query(param, {"type": "boolean"}, f"also delete the batch's {c.entities}")
    gone = {
        "deleted": {"type": "boolean"},
        "batch_id": {"type": "string"},
        f"deleted_{c.entities}": _INTEGER,
        f"detached_{c.entities}": _INTEGER,
    }
    return [(rule, _op(ok(obj(gone, ("deleted", "batch_id"))), 404, parameters=[flag]))]


def stats(c, method, rule):
    """``/models/stats``, ``/hardware/stats`` and the component's own groupings."""
    row = {"type": "array", "items": schema_name(c, "stats_row")}
    if rule.endswith("/models/stats"):
        answer = obj({"models": row, "summary": schema_name(c, "stats_row")}, ("models",))
    elif rule.endswith("/hardware/stats"):
        answer = obj({"hardware": row}, ("hardware",))
    else:
        group_by = {"type": "array", "items": {"type": "string"}}
        answer = obj({"group_by": group_by, "groups": row}, ("group_by", "groups"))
    return [(rule, _op(ok(answer), parameters=parameters(c, "stats")))]


def performance(c, method, rule):
    """``/performance``: trends over the last ``days``."""
    rows = {"type": "array", "items": ANY_OBJECT}
    answer = {
        "days": _INTEGER,
        "daily_stats": rows,
        "model_stats": {"type": "array", "items": schema_name(c, "stats_row")},
        "hardware_stats": {"type": "array", "items": schema_name(c, "stats_row")},
        f"latest_{c.entities}": {"type": "array", "items": schema_name(c, "")},
        "metrics": rows,
    }
    days = query("days", {"type": "integer", "minimum": 1, "maximum": 3650}, "days back (30)")
    return [(rule, _op(ok(obj(answer, answer)), parameters=[days, *parameters(c, "stats")]))]


def search(c, method, rule):
    """``/search``: GET with a query string, or POST with the same fields as a JSON body."""
    params = parameters(c, "search")
    answer = obj(
        {
            "query": {"type": "string"},
            "results": {"type": "array", "items": schema_name(c, "")},
            "count": _INTEGER,
        },
        ("query", "results", "count"),
    )
    if method == "GET":
        for param in params:
            param["required"] = param["name"] == "query"
        return [(rule, _op(ok(answer), parameters=params))]
    fields = {"query": {"type": "string", "minLength": 1, "maxLength": 256}, "limit": _INTEGER}
    request = body(obj(fields, ("query",)))
    return [(rule, _op(ok(answer), 413, 415, parameters=params, requestBody=request))]


def export(c, method, rule):
    """``/export``: a table streamed as JSON, NDJSON, CSV or Parquet."""
    tables = [c.entities, "batches", *c.child_by_key]
    fields = {
        "format": {"type": "string", "enum": list(_FORMATS)},
        "table": {"type": "string", "enum": tables},
    }
    content = {_MEDIA[fmt]: {"schema": schema} for fmt, schema in _FORMATS.items()}
    answer = {"200": {"description": "the rows, as a download", "content": content}}
    request = body(obj(fields), required=False)
    operation = _op(answer, 413, 415, parameters=parameters(c, "export"), requestBody=request)
    return [(rule, operation)]


def imports(c, method, rule):
    """``/import/<format>``: store every item of a report."""
    importer = next(i for i in c.importers if rule.endswith(f"/import/{i.format}"))
    params = [query(p, {"type": "string"}, p, p in importer.required) for p in importer.params]
    media = "application/xml" if importer.format == "junit" else "application/json"
    request = body({"type": "string", "description": importer.description}, media=media)
    if importer.single:
        stored = ok(schema_name(c, "detail"), 201, "stored")
    else:
        stored = ok(schema_name(c, "page"), 201, "stored")
    already = {"200": {**next(iter(stored.values())), "description": "already stored"}}
    return [
        (rule, _op({**stored, **already}, 409, 413, 415, parameters=params, requestBody=request))
    ]


def status(c, method, rule):
    """``/status/<id>``: a job's or group's status."""
    fields = {c.id_column: {"type": "string"}, "status": {"type": "string"}}
    return [(rule, _op(ok(obj(fields, ("status",))), 404))]


def cancel(c, method, rule):
    """``/cancel/<id>``: cancel a job or group."""
    fields = {
        "status": {"type": "string", "enum": ["cancelled"]},
        "cancelled": {"type": "array", "items": {"type": "string"}},
        "message": {"type": "string"},
    }
    return [(rule, _op(ok(obj(fields, fields)), 404, 409))]


def hardware(c, method, rule):
    """``/hardware``: the devices jobs can run on."""
    device = obj({"name": {"type": "string"}, "available": {"type": "boolean"}})
    return [(rule, _op(ok(obj({"hardware": {"type": "array", "items": device}}))))]


def submit(c, method, rule):
    """A job submission: starts jobs, answers at once."""
    submission = next(s for s in c.jobs.submissions if rule.endswith(s.path))
    request = body(submission.schema, required=submission.body_required)
    started = obj({"status": {"type": "string"}, "started_at": {"type": "string"}}, ("status",))
    answer = ok(started, 201, "started; Location is its status", location=True)
    return [(rule, _op(answer, 413, 415, requestBody=request))]


def health(c, method, rule):
    """``/health``: the service is up and its database answers."""
    fields = {
        "status": {"type": "string"},
        "service": {"type": "string"},
        "database": {"type": "string"},
    }
    answer = {**ok(obj(fields, ("status",))), **error_responses(503)}
    return [(rule, {"responses": answer, "security": []})]


def openapi(c, method, rule):
    """The spec itself."""
    return [(rule, {"responses": ok(ANY_OBJECT), "summary": "This OpenAPI spec", "security": []})]


def other(c, method, rule):
    """A component's own route: a JSON object (more errors when it takes an id)."""
    errors = (404,) if "<" in rule else ()
    return [(rule, _op(ok(ANY_OBJECT), *errors))]


OPERATIONS = {
    "items": items,
    "bulk": bulk,
    "item": item,
    "children": children,
    "batches": batches,
    "batch": batch,
    "stats": stats,
    "performance": performance,
    "search": search,
    "export": export,
    "migrations": migrations,
    "migrations_apply": migrations_apply,
    "import": imports,
    "status": status,
    "cancel": cancel,
    "results": other,
    "hardware": hardware,
    "submit": submit,
    "health": health,
    "openapi": openapi,
    "other": other,
}


CACHED = ("stats", "performance")  # answered from the component's cache (X-Cache)


def revalidated(operation, cached=False):
    """Add a JSON read's ``ETag`` and its 304 answer (``If-None-Match``) to ``operation``."""
    headers = {
        "ETag": {"description": "a strong hash of the body", "schema": {"type": "string"}},
        "Cache-Control": {"description": "private, no-cache", "schema": {"type": "string"}},
    }
    if cached:
        headers["X-Cache"] = {
            "description": "hit, miss, or bypass (the cache could not be trusted just now)",
            "schema": {"type": "string", "enum": ["hit", "miss", "bypass"]},
        }
    success = operation["responses"].get("200")
    if success is not None and "application/json" in success.get("content", {}):
        success["headers"] = {**success.get("headers", {}), **headers}
        operation["responses"]["304"] = {
            "description": "not modified: If-None-Match named the current ETag (no body)",
            "headers": headers,
        }
    return operation


def describe(component, kind, method, rule, core_routes=()):
    """Return ``[(rule, operation), ...]`` for one method of one route.

    ``core_routes`` are the core's own ``DbRoutes`` (alerts), documented like a component's.
    """
    family = kind.split("_")[0] if kind.startswith(("stats_", "import_", "submit_")) else kind
    every = (*core_routes, *component.db_routes)
    own = dict(pair for routes in every for pair in routes.operations)
    found = (own.get(kind) or OPERATIONS.get(family) or other)(component, method, rule)
    if method != "GET" or family == "health":
        return found
    return [(path, revalidated(op, family in CACHED)) for path, op in found]
