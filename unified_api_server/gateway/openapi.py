"""The whole API's OpenAPI spec at ``GET /api/openapi.json`` and its Swagger UI at ``/api/docs``.

The spec is built in-process from the registered components' own spec builders, so it needs no
component to be up: the gateway's routes, each component's routes at ``/api/{c}/...`` and the
database ones again at their aliases ``/api/db/{c}/...`` (see :mod:`.routing`), and the two ways
to present a key. Both pages are open, as the original service's ``/docs`` were; the data
routes they describe still need a key. Swagger UI's files come from the installed
``swagger_ui_bundle`` package: nothing is fetched from elsewhere.
"""

import copy
import json
import os
import re
from functools import cache

from flask import Blueprint, Response, abort, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from unified_api_server.core.web.alert_docs import ALERT, list_parameters
from unified_api_server.core.web.openapi import add_component, new_spec, shared_parameter
from unified_api_server.core.web.openapi_ops import (
    ANY_OBJECT,
    error_responses,
    obj,
    ok,
    query,
    revalidated,
)
from unified_api_server.gateway.chart_docs import chart_paths
from unified_api_server.gateway.filters import view_parameters
from unified_api_server.registry import COMPONENTS

bp = Blueprint("gateway_openapi", __name__)
SNAPSHOT = "docs/openapi.json"  # the committed copy (scripts/render-openapi writes it)
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
# What the gateway itself may answer for any forwarded route, before or instead of a component.
GATEWAY_ERRORS = (401, 403, 429, 502, 504)
SECURITY = [{"ApiKey": []}, {"Bearer": []}]
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Unified API Server: API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" href="/api/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, validatorUrl: null, persistAuthorization: true});
</script>
</body>
</html>
"""


def _places(component):
    """Return where the gateway serves a component operation: as is, and a database one again
    at its alias ``/api/db/{c}/...``; a component's own ``/health`` is not reachable.
    """
    prefix = f"/api/{component.name}/db/"

    def places(path, operation):
        if not path.startswith(f"/api/{component.name}/"):
            return []
        if not path.startswith(prefix):
            return [(path, operation)]
        copied = copy.deepcopy(operation)
        copied["operationId"] = "alias_" + operation["operationId"]
        copied["tags"] = [f"{component.name} (alias /api/db/{component.name})"]
        return [
            (path, operation),
            (f"/api/db/{component.name}/" + path.removeprefix(prefix), copied),
        ]

    return places


def _through_gateway(spec_dict):
    """Add the gateway's own errors to every operation that needs a key."""
    for operations in spec_dict["paths"].values():
        for operation in operations.values():
            if operation.get("security") == []:
                continue
            for status in map(str, GATEWAY_ERRORS):
                operation["responses"].setdefault(
                    status, {"$ref": f"#/components/responses/{status}"}
                )


def _filters(spec, fixed=()):
    return [shared_parameter(spec, c, p) for c, p in view_parameters(fixed=fixed)]


FLAG = {"type": "object", "additionalProperties": True}
STATUS = {"components": FLAG, "completed": {"type": "boolean"}, "timestamp": {"type": "string"}}
MODEL_NAME = {"name": "model_name", "in": "path", "required": True}


METRICS = "Return the gateway's Prometheus metrics, every worker's summed (admin scope)"
PROMETHEUS_TEXT = {
    "200": {
        "description": "Prometheus's text format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def _gateway_operations(spec):
    """Return the gateway's own paths: index, health, the cross-component views, the docs."""
    health = obj({"status": {"type": "string", "enum": ["ok", "degraded"]}, **STATUS})
    return {
        "/": {"get": _public("List the services and the gateway's endpoints", ok(ANY_OBJECT))},
        "/health": {
            "get": _public(
                "Report the gateway's and each component's health: 200 when all are up, else 503",
                {
                    **ok(health),
                    "503": {"description": "degraded", "content": ok(health)["200"]["content"]},
                },
            )
        },
        **_view_operations(spec),
        **chart_paths(spec),
        "/api/openapi.json": {"get": revalidated(_public("This OpenAPI spec", ok(ANY_OBJECT)))},
        "/metrics": {"get": _keyed(METRICS, PROMETHEUS_TEXT, error_responses(401, 403, 429))},
    }


def _view_operations(spec):
    """Return the cross-component views' paths; each takes the components' filters."""
    errors = error_responses(400, 401, 403, 429)
    search_fields = {
        "query": {"type": "string", "minLength": 1, "maxLength": 500},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    }
    search_body = {"content": {"application/json": {"schema": obj(search_fields)}}}
    search_params = [
        query("query", search_fields["query"], "the search text (or in the JSON body)"),
        query("limit", search_fields["limit"], "results per component (100)"),
    ]
    recent = {"type": "integer", "minimum": 1, "maximum": 100}
    alerts = {"type": "array", "items": ALERT}
    model = obj(
        {"model_name": {"type": "string"}, "overview": FLAG, "active_alerts": alerts, **STATUS}
    )
    search = obj({"query": {"type": "string"}, "result_counts": FLAG, **STATUS})
    overview = "Return each component's model statistics, filtered alike"
    one_model = "Return one model's totals, success rates, recent runs/tasks and summaries"
    searched = "Search every component concurrently and return their results with counts"
    return {
        "/api/db/overview": {
            "get": revalidated(
                _keyed(overview, ok(obj(STATUS)), errors, parameters=_filters(spec)), cached=True
            )
        },
        "/api/db/model/{model_name}": {
            "get": revalidated(
                _keyed(
                    one_model,
                    ok(model),
                    {**errors, **error_responses(404)},
                    parameters=[
                        {**MODEL_NAME, "schema": {"type": "string", "minLength": 1}},
                        query("limit", recent, "recent items per component (10)"),
                        *_filters(spec, fixed=("model_name",)),
                    ],
                ),
                cached=True,
            )
        },
        "/api/db/alerts": {"get": revalidated(_merged_alerts(errors))},
        "/api/db/search": {
            "post": _keyed(
                searched,
                ok(search),
                {**errors, **error_responses(413)},
                parameters=[*search_params, *_filters(spec)],
                requestBody=search_body,
            )
        },
    }


def _merged_alerts(errors):
    """``/api/db/alerts``: every component's alerts, newest first."""
    listed = {"alerts": {"type": "array", "items": ALERT}, "count": {"type": "integer"}}
    limit = {"type": "integer", "minimum": 1, "maximum": 1000}
    params = [*list_parameters(), query("limit", limit, "newest alerts of all (100)")]
    summary = "Return every component's alerts matching the filters, newest first"
    answer = ok(obj({**listed, "limit": {"type": "integer"}, **STATUS}, list(listed)))
    return _keyed(summary, answer, errors, parameters=params)


def _public(summary, responses, **rest):
    return {"summary": summary, "tags": ["gateway"], "responses": responses, "security": [], **rest}


def _keyed(summary, responses, errors, **rest):
    return {"summary": summary, "tags": ["gateway"], "responses": {**responses, **errors}, **rest}


@cache
def gateway_spec():
    """Return the merged spec of the gateway and every registered component (built once)."""
    names = ", ".join(c.name for c in COMPONENTS)
    spec = new_spec(
        "Unified API Server",
        f"The gateway in front of the components ({names}). Present a key as `X-API-Key: <key>` "
        "or `Authorization: Bearer <key>`, or a session token from `POST /ui/login` as "
        "`Authorization: Bearer <token>`. A key's scopes are global (`read`, `write`, `admin`) "
        "or one component's (`test:read`, `benchmark:write`); a refusal for a scope is a 403 "
        "naming it in `error.details.missing_scope`. WebSockets (not in this spec): `/api/db/ws` "
        "(every component's changes), `/api/{component}/ws` and `/api/{component}/ws/{id}`; a "
        "browser may pass `?api_key=` when opening one, or use its session cookie.",
    )
    spec.components.security_scheme(
        "ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )
    spec.components.security_scheme(
        "Bearer",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key, or a session token (a JWT) from POST /ui/login",
        },
    )
    spec.options["security"] = SECURITY
    for path, operations in _gateway_operations(spec).items():
        for method, operation in operations.items():
            words = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "index"
            operation["operationId"] = f"gateway_{method}_{words}"
        spec.path(path=path, operations=operations)
    for component in COMPONENTS:
        add_component(spec, component, _places(component))
    built = spec.to_dict()
    _through_gateway(built)
    return built


def snapshot_text():
    """Return the spec as the committed snapshot holds it (sorted keys, one field a line)."""
    return json.dumps(gateway_spec(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@bp.get("/api/openapi.json")
def openapi_json():
    """Return the OpenAPI spec of the whole API (no key needed)."""
    return jsonify(gateway_spec())


@bp.get("/api/docs")
def docs():
    """Show the API in Swagger UI, served from the installed package (no key needed)."""
    return Response(_PAGE, mimetype="text/html")


@bp.get("/api/docs/assets/<name>")
def asset(name):
    """Return one of Swagger UI's files."""
    if name not in ASSETS:
        abort(404)
    return send_from_directory(os.fspath(swagger_ui_path), name, max_age=3600)
