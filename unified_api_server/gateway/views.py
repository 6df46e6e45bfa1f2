"""The gateway's own routes: the index, health, and the cross-component views.

The views read component data only through the components' HTTP APIs, all registered
components at once (:func:`~unified_api_server.gateway.fanout.fan_out`), each within
``view_budget`` seconds. A component that is down or slow leaves its part empty (``null`` or
``[]``), its status block says why, and ``completed`` is false; the answer is still 200.
"""

import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson
from flask import Blueprint, current_app, jsonify, request
from marshmallow import RAISE, Schema, fields, validate

from unified_api_server.core.errors import ApiError
from unified_api_server.gateway.fanout import component_call, fan_out, merge_status
from unified_api_server.gateway.filters import split_filters
from unified_api_server.gateway.viewcache import cached_view
from unified_api_server.registry import BY_NAME, COMPONENTS

NAMES = tuple(c.name for c in COMPONENTS)
bp = Blueprint("gateway", __name__)


def overview_names(component):
    """Return the model view's field names for ``component``: total, success rate, recent."""
    name, entities = component.name, component.entities
    return f"total_{name}_{entities}", f"{name}_success_rate", f"recent_{name}_{entities}"


class SearchSchema(Schema):
    """A cross-component search: a query of 1..500 characters and a limit of 1..1000."""

    class Meta:
        """Unknown fields are an error."""

        unknown = RAISE

    query = fields.String(required=True, validate=validate.Length(min=1, max=500))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


SEARCH_OPTIONS = ("query", "limit")


class ModelViewSchema(Schema):
    """Options of the model view: how many recent runs/tasks to show per component."""

    class Meta:
        """Unknown fields are an error."""

        unknown = RAISE

    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


def _state():
    return current_app.extensions["gateway"]


def _now():
    return datetime.now(UTC).isoformat()


def extract_list(body, *keys):
    """Return the first list found under ``keys`` (or ``items``/``results``) in a component body."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in (*keys, "items", "results"):
            if isinstance(body.get(key), list):
                return body[key]
    return []


def model_totals(stats_body, model_name, total_field):
    """Return ``(total, success_rate, row)`` for ``model_name`` from a component's stats body."""
    rows = extract_list(stats_body, "models")
    row = next((r for r in rows if isinstance(r, dict) and r.get("model_name") == model_name), None)
    if row is None:
        return 0, None, None
    total = row.get(total_field) or 0
    rate = row.get("success_rate")
    if rate is None and total:
        completed = row.get(total_field.replace("total_", "completed_")) or 0
        rate = completed / total
    return total, rate, row


def _components_block(outcomes_by_component):
    return {name: merge_status(outcomes) for name, outcomes in outcomes_by_component.items()}


@bp.get("/")
def index():
    """List the services and the gateway's endpoints."""
    settings = _state().settings
    services = {
        name: {
            "url_prefix": f"/api/{name}",
            "database_prefix": f"/api/db/{name}",
            "upstream": settings[f"{name}_url"],
        }
        for name in NAMES
    }
    endpoints = {
        "GET /health": "gateway and component health (no key needed)",
        "GET /api/db/overview": "every component's model statistics",
        "GET /api/db/model/{model_name}": "one model across all components",
        "POST /api/db/search?query=&limit=": "search every component (JSON body accepted)",
        "GET /api/db/alerts": "every component's alerts, newest first",
        "GET /api/db/charts/{chart}": "a chart: plotly.js figure JSON, or format=svg|png",
        "ANY /api/db/{component}/{path}": "forwarded to /api/{component}/db/{path}",
        "ANY /api/{component}/{path}": "forwarded to the component unchanged",
        "GET /api/{component}/ws/{id}": "WebSocket relayed to the component",
        "GET /auth/check": "nginx auth_request decision (X-Original-Method, X-Original-URI)",
    }
    return jsonify(
        {
            "name": "Unified API Server gateway",
            "services": services,
            "endpoints": endpoints,
            "authentication": "X-API-Key: <key> or Authorization: Bearer <key>",
            "timestamp": _now(),
        }
    )


@bp.route("/health", methods=["GET", "HEAD"])
def health():
    """Report the gateway's and each component's health: 200 when all are up, else 503."""
    state = _state()
    budget = state.settings["health_timeout"]
    outcomes = fan_out({name: component_call(name, "/health", budget) for name in NAMES}, budget)
    key_store = {"ok": True, "error": None}
    try:
        state.store.ping()
    except Exception as exc:
        key_store = {"ok": False, "error": type(exc).__name__}
    components = {name: outcomes[name].status_block() for name in NAMES}
    healthy = all(block["ok"] for block in components.values()) and key_store["ok"]
    body = {
        "status": "ok" if healthy else "degraded",
        "gateway": {"ok": True, "uptime_s": round(time.monotonic() - state.started, 1)},
        "key_store": key_store,
        "components": components,
        "timestamp": _now(),
    }
    return jsonify(body), 200 if healthy else 503


@bp.get("/api/db/overview")
@cached_view("overview")
def overview():
    """Return each component's model statistics, filtered alike, fetched concurrently."""
    filters = split_filters(request.args)
    budget = _state().settings["view_budget"]
    calls = {
        name: component_call(name, f"/api/{name}/db/models/stats?{urlencode(query)}", budget)
        for name, query in filters.applied.items()
    }
    outcomes = {**fan_out(calls, budget), **filters.skipped_outcomes()}
    body = {f"{name}_stats": outcomes[name].body if outcomes[name].ok else None for name in NAMES}
    body["components"] = {name: outcomes[name].status_block() for name in NAMES}
    body["completed"] = all(outcome.ok for outcome in outcomes.values())
    body["timestamp"] = _now()
    return jsonify(body)


@bp.get("/api/db/model/<path:model_name>")
@cached_view("model")
def model(model_name):
    """Return one model's true totals, success rates, recent runs/tasks and summaries."""
    options = ModelViewSchema().load({k: v for k, v in request.args.items() if k == "limit"})
    filters = split_filters(request.args, options=("limit",), fixed=("model_name",))
    budget = _state().settings["view_budget"]
    calls = {}
    for c in COMPONENTS:
        if c.name in filters.hidden:
            continue
        calls.update(_alert_calls(c, model_name, budget))  # a model's alerts, whatever the filters
        if c.name not in filters.applied:
            continue
        base, query = f"/api/{c.name}/db", [("model_name", model_name), *filters.applied[c.name]]
        name_qs, recent_qs = urlencode(query), urlencode([*query, ("limit", options["limit"])])
        calls[f"{c.name}.stats"] = component_call(c.name, f"{base}/models/stats?{name_qs}", budget)
        calls[f"{c.name}.recent"] = component_call(
            c.name, f"{base}/{c.entities}?{recent_qs}", budget
        )
        if c.model_summary:
            route = c.model_summary[0]
            calls[f"{c.name}.summary"] = component_call(c.name, f"{base}/{route}?{name_qs}", budget)
    outcomes = fan_out(calls, budget)
    for name, skipped in filters.skipped_outcomes().items():
        parts = ["stats", "recent", "summary"]
        if name in filters.hidden:  # nothing of it at all, alerts and sections included
            parts += ["alerts", *(key for _, _, key in BY_NAME[name].model_sections)]
        outcomes.update({f"{name}.{part}": skipped for part in parts})
    body = {"model_name": model_name, "overview": {}}
    grouped = {}
    for c in COMPONENTS:
        total_name, rate_name, recent_name = overview_names(c)
        stats, recent = outcomes[f"{c.name}.stats"], outcomes[f"{c.name}.recent"]
        total, rate, row = (
            model_totals(stats.body, model_name, c.count_name()) if stats.ok else (None,) * 3
        )
        body["overview"][total_name] = total
        body["overview"][rate_name] = rate
        body[f"{c.name}_model_stats"] = row
        body[recent_name] = extract_list(recent.body, c.entities) if recent.ok else []
        grouped[c.name] = [stats, recent]
        summary = outcomes.get(f"{c.name}.summary") if c.model_summary else None
        if summary is not None:
            grouped[c.name].append(summary)
            listed = extract_list(summary.body, c.model_summary[1]) if summary.ok else []
            body[f"{c.name}_summary"] = listed
    _add_alerts(body, outcomes, grouped)
    body["components"] = _components_block(grouped)
    body["completed"] = all(outcome.ok for outcome in outcomes.values())
    body["timestamp"] = _now()
    return jsonify(body)


def _alert_calls(c, model_name, budget):
    """Return the model view's calls for ``c``'s open alerts and its model sections (verdicts)."""
    base = f"/api/{c.name}/db"
    open_qs = urlencode({"model_name": model_name, "state": "active,acknowledged", "limit": 100})
    calls = {f"{c.name}.alerts": component_call(c.name, f"{base}/alerts?{open_qs}", budget)}
    for route, _, key in c.model_sections:
        named = urlencode({"model_name": model_name})
        calls[f"{c.name}.{key}"] = component_call(c.name, f"{base}/{route}?{named}", budget)
    return calls


def _add_alerts(body, outcomes, grouped):
    """Add every component's active alerts (newest first) and the model sections to ``body``."""
    alerts = []
    for c in COMPONENTS:
        found = outcomes[f"{c.name}.alerts"]
        grouped.setdefault(c.name, []).append(found)
        if found.ok:
            alerts += [{"component": c.name, **a} for a in extract_list(found.body, "alerts")]
        for _, list_key, key in c.model_sections:
            section = outcomes[f"{c.name}.{key}"]
            grouped[c.name].append(section)
            body[key] = extract_list(section.body, list_key) if section.ok else []
    body["active_alerts"] = sorted(alerts, key=lambda a: a.get("raised_at") or "", reverse=True)


def _search_input():
    """Read the search from the query string, or else a JSON body; raise 400 when malformed."""
    data = {k: v for k, v in request.args.items() if k in SEARCH_OPTIONS}
    raw = request.get_data(cache=False)
    if raw.strip():
        try:
            payload = orjson.loads(raw)  # bounded nesting: 10,000 '[' is an error, not a crash
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise ApiError(400, "request body must be a JSON object")
        data = {**payload, **data}
    return SearchSchema().load(data)


@bp.post("/api/db/search")
@cached_view("search")
def search():
    """Search every component concurrently and return their results with counts."""
    query = _search_input()
    filters = split_filters(request.args, options=SEARCH_OPTIONS)
    budget = _state().settings["view_budget"]
    payload = {"query": query["query"], "limit": query["limit"]}
    calls = {
        name: component_call(
            name, f"/api/{name}/db/search?{urlencode(pairs)}", budget, "POST", payload
        )
        for name, pairs in filters.applied.items()
    }
    outcomes = {**fan_out(calls, budget), **filters.skipped_outcomes()}
    body = {"query": query["query"], "limit": query["limit"]}
    counts = {}
    for name in NAMES:
        outcome = outcomes[name]
        results = extract_list(outcome.body, "results") if outcome.ok else []
        body[f"{name}_results"] = results
        counts[name] = len(results)
    counts["total"] = sum(counts.values())
    body["result_counts"] = counts
    body["components"] = {name: outcomes[name].status_block() for name in NAMES}
    body["completed"] = all(outcome.ok for outcome in outcomes.values())
    body["timestamp"] = _now()
    return jsonify(body)
