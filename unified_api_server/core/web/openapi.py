"""The OpenAPI 3 spec of a component, built from its own route tables and schemas.

The routes are read from a bare Flask app holding the same blueprints a component registers
(:func:`register_resources`, :func:`register_reports`, :func:`job_blueprint`), so a route added
there appears here; each view kind (``Items``, ``Stats``, a job route...) says what it takes and
answers, from :mod:`~unified_api_server.core.schemas` (request bodies),
:func:`~unified_api_server.core.web.args.parameters` (the query grammar) and
:mod:`~unified_api_server.core.web.openapi_bodies` (answers). WebSocket routes have no OpenAPI
form and are described in the spec's text instead.
"""

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify

from unified_api_server.core.schemas import (
    ID_PATTERN,
    BatchSchema,
    ChildRows,
    create_schema,
    patch_schema,
)
from unified_api_server.core.web import openapi_bodies as out
from unified_api_server.core.web.openapi_ops import describe
from unified_api_server.core.web.reports import CORE_ROUTES

OPENAPI_VERSION = "3.0.3"
ERRORS = {
    400: "bad input: the message names the problem",
    401: "no, unknown, revoked or expired API key",
    403: "the key lacks the scope this request needs",
    404: "unknown id, or no such route",
    409: "conflict with what is stored",
    413: "request body too large",
    415: "unsupported content type",
    429: "the key is over its rate, or holds too many sockets",
    502: "the component is unreachable",
    503: "busy or unavailable now; try again later",
    504: "the component did not answer in time",
}
_PARAM = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")
_SOCKET = re.compile(r"/ws(/<[^>]+>)?$")
_SKIPPED = ("HEAD", "OPTIONS")


def new_spec(title, description):
    """Return an empty APISpec with the marshmallow plugin, its field mappings and the errors."""
    # Schemas are named only where registered by name; any other nested one is written inline
    # (the request schemas build a fresh class per group and child table).
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
    spec = APISpec(
        title=title,
        version="1",
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": description},
    )
    plugin.converter.add_attribute_function(out.field_attributes)
    spec.components.schema("Error", schema=out.ErrorSchema)
    for status, text in ERRORS.items():
        spec.components.response(
            str(status),
            {"description": text, "content": {"application/json": {"schema": "Error"}}},
        )
    return spec


def route_app(component):
    """Return a bare app holding ``component``'s HTTP routes (no database, no jobs running)."""
    from unified_api_server.core.web.app import component_settings  # app imports this module
    from unified_api_server.core.web.jobs import job_blueprint
    from unified_api_server.core.web.reports import register_reports
    from unified_api_server.core.web.resources import register_resources

    app = Flask(f"{component.name}_routes")
    database_api = Blueprint(
        f"{component.name}_db", __name__, url_prefix=f"/api/{component.name}/db"
    )
    register_resources(database_api, component)
    register_reports(database_api, component)
    app.register_blueprint(database_api)
    if component.jobs is not None:
        settings = component_settings(component).load(flags={}, environ={})
        executor = component.jobs(component, settings, None)
        app.register_blueprint(job_blueprint(component, executor, None, None))
    app.add_url_rule("/health", "health", _health_doc)
    app.add_url_rule(f"/api/{component.name}/openapi.json", "openapi", serve_spec)
    return app


def _health_doc():
    """Report that the service is up and its database answers."""


def _summary(view, method):
    """Return the first line of the docstring of the function serving ``method``."""
    function = getattr(getattr(view, "view_class", None), method.lower(), None) or view
    return (function.__doc__ or "").strip().splitlines()[0].rstrip(".") if function.__doc__ else ""


def openapi_path(rule):
    """Return an OpenAPI path for a Flask rule: ``/run/<item_id>`` becomes ``/run/{item_id}``."""
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)


def path_parameters(rule):
    """Return the OpenAPI path parameters of a Flask rule (ids follow the id pattern)."""
    found = []
    for converter, name in _PARAM.findall(rule):
        schema = {"type": "string", "minLength": 1}
        if converter != "path":
            schema["pattern"] = ID_PATTERN.pattern
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    return found


def operations(component):
    """Yield ``(path, method, operation)`` for every HTTP route of ``component``."""
    app = route_app(component)
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or _SOCKET.search(rule.rule):
            continue
        view = app.view_functions[rule.endpoint]
        kind = rule.endpoint.split(".")[-1].removeprefix(f"{component.name}_")
        for method in sorted(set(rule.methods) - set(_SKIPPED)):
            for variant, operation in describe(component, kind, method, rule.rule, CORE_ROUTES):
                path = openapi_path(variant)
                operation.setdefault("summary", _summary(view, method))
                words = path.removeprefix("/api/").replace("{", "").replace("}", "")
                operation["operationId"] = f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', words)}"
                operation["tags"] = [component.name]
                operation.setdefault("parameters", []).extend(path_parameters(variant))
                yield path, method, operation


def register_schemas(spec, component):
    """Name ``component``'s request and answer schemas in ``spec`` (referenced by name)."""
    c = component
    item, detail = out.item_schema(c, detail=False), out.item_schema(c, detail=True)
    schemas = {
        out.schema_name(c, ""): item,
        out.schema_name(c, "detail"): detail,
        out.schema_name(c, "page"): out.page_schema(c, item),
        out.schema_name(c, "create"): create_schema(c),
        out.schema_name(c, "patch"): patch_schema(c),
        out.schema_name(c, "stats_row"): out.stats_row_schema(c),
        out.schema_name(c, "batch"): out.batch_schema(c),
        "BatchCreate": BatchSchema,
    }
    for name, schema in schemas.items():
        if name not in spec.components.schemas:
            spec.components.schema(name, schema=schema)
    converter = spec.plugins[0].converter
    for child in c.children:  # a child POST takes the child field's shapes as its whole body
        rows = converter.field2property(ChildRows(child))
        spec.components.schema(out.schema_name(c, f"{child.key}_in"), component=rows)


def shared_parameter(spec, component, parameter):
    """Return a query parameter as a reference to one named in the spec (the grammar's terms
    repeat on every list, statistics, search and export route: written once each)."""
    if parameter["in"] != "query":
        return parameter
    base = f"{component.name}.{parameter['name']}"
    known = spec.components.parameters
    for number in range(100):
        name = base if number == 0 else f"{base}.{number}"
        if name not in known:
            spec.components.parameter(name, "query", {**parameter})
            return name
        if known[name] == parameter:
            return name
    raise ValueError(f"too many variants of parameter {base}")


def add_component(spec, component, places=None):
    """Add ``component``'s schemas and operations to ``spec``.

    ``places(path, operation)`` returns where the operation is documented, as ``(path,
    operation)`` pairs: the gateway adds aliases and leaves out what it does not forward.
    """
    register_schemas(spec, component)
    paths = {}
    for path, method, operation in operations(component):
        operation["parameters"] = [
            shared_parameter(spec, component, p) for p in operation["parameters"]
        ]
        for place, placed in places(path, operation) if places else [(path, operation)]:
            paths.setdefault(place, {})[method.lower()] = placed
    for path, methods in paths.items():
        spec.path(path=path, operations=methods)


def component_spec(component):
    """Return the OpenAPI spec of ``component`` as a dict."""
    spec = new_spec(
        component.title,
        f"The {component.title}: its database API under /api/{component.name}/db and its jobs. "
        f"WebSockets (not in this spec): /api/{component.name}/ws streams every change, "
        f"/api/{component.name}/ws/{{id}} one job's status.",
    )
    add_component(spec, component)
    return spec.to_dict()


def serve_spec():
    """Return this component's OpenAPI spec, built on the first call of the process."""
    state = current_app.extensions["component"]
    if getattr(state, "openapi", None) is None:
        state.openapi = component_spec(state.component)
    return jsonify(state.openapi)
