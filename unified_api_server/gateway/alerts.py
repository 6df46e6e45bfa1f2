"""The gateway's merged alert list: every component's alerts, newest first, in one answer.

Each component is asked for its newest ``limit`` alerts matching the filters (passed through
as given, after the gateway checked them); the answer keeps the newest ``limit`` of them all.
A component that is down leaves its alerts out and says so in its status block; so does one the
caller may not read (``forbidden``).
"""

from urllib.parse import urlencode

from flask import Blueprint, jsonify, request

from unified_api_server.core.data.alert_queries import KINDS, STATES
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import parse_limit, parse_time, refuse_unknown
from unified_api_server.gateway.fanout import component_call, fan_out
from unified_api_server.gateway.filters import hidden_outcomes
from unified_api_server.gateway.identity import hidden_components
from unified_api_server.gateway.views import NAMES, _now, _state, extract_list

bp = Blueprint("gateway_alerts", __name__)
PARAMS = ("state", "kind", "model_name", "since", "until", "limit")
DEFAULT_LIMIT = 100
_CHOICES = {"state": STATES, "kind": KINDS}


def _check(args):
    """Raise a 400 for an unknown parameter or a malformed value, before any call."""
    refuse_unknown(set(args) - set(PARAMS) - {"api_key"}, PARAMS)
    for name, allowed in _CHOICES.items():
        for value in (v for raw in args.getlist(name) for v in raw.split(",") if v):
            if value not in allowed:
                raise ApiError(400, f"{name}: must be one of {', '.join(allowed)}, got {value!r}")
    for name in ("since", "until"):
        if args.get(name):
            parse_time(args[name], name)
    return parse_limit(args.get("limit"), DEFAULT_LIMIT)


@bp.get("/api/db/alerts")
def alerts():
    """Return every component's alerts matching the filters, newest first."""
    limit = _check(request.args)
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k in PARAMS and k != "limit"]
    query = urlencode([*pairs, ("limit", limit)])
    budget = _state().settings["view_budget"]
    hidden = hidden_components()
    calls = {
        name: component_call(name, f"/api/{name}/db/alerts?{query}", budget)
        for name in NAMES
        if name not in hidden
    }
    outcomes = {**fan_out(calls, budget), **hidden_outcomes(hidden)}
    merged = []
    for name in NAMES:
        if outcomes[name].ok:
            found = extract_list(outcomes[name].body, "alerts")
            merged += [{"component": name, **alert} for alert in found]
    merged.sort(
        key=lambda alert: (alert.get("raised_at") or "", alert.get("alert_id")), reverse=True
    )
    merged = merged[:limit]
    return jsonify(
        {
            "alerts": merged,
            "count": len(merged),
            "limit": limit,
            "components": {name: outcomes[name].status_block() for name in NAMES},
            "completed": all(outcome.ok for outcome in outcomes.values()),
            "timestamp": _now(),
        }
    )
