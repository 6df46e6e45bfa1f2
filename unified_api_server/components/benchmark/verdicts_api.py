"""``GET /api/benchmark/db/verdicts?model_name=``: the latest verdict of each of a model's series
(the gateway's model view shows them beside the model's active alerts)."""

from flask import jsonify, request

from unified_api_server.components.benchmark.alerts import latest_verdicts
from unified_api_server.core.component import DbRoutes
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import only, parse_int
from unified_api_server.core.web.args import query_parameter as query
from unified_api_server.core.web.openapi_ops import error_responses, obj, ok
from unified_api_server.core.web.resources import cursor

MAX_SERIES = 1000
_TEXT = {"type": "string", "nullable": True}
_NUMBER = {"type": "number", "nullable": True}
_VERDICT = obj(
    {
        "model_name": {"type": "string"},
        "hardware": _TEXT,
        "batch_size": {"type": "integer", "nullable": True},
        "precision": _TEXT,
        "metric": {"type": "string"},
        "run_id": {"type": "string"},
        "started_at": {"type": "string", "format": "date-time", "nullable": True},
        "verdict": {"type": "string", "enum": ["regression", "improvement", "ok", "no_baseline"]},
        "value": _NUMBER,
        "baseline": _NUMBER,
        "change": _NUMBER,
        "z": _NUMBER,
    },
    ("model_name", "metric", "run_id", "verdict"),
)


def _register(bp, component):
    def verdicts():
        """Return the latest verdict of each series of one model."""
        only(request.args, ["model_name", "limit"])
        model_name = request.args.get("model_name")
        if not model_name:
            raise ApiError(400, "model_name: required")
        limit = parse_int(
            request.args.get("limit"), "limit", minimum=1, maximum=MAX_SERIES, default=MAX_SERIES
        )
        found = latest_verdicts(cursor(), model_name, limit)
        return jsonify({"model_name": model_name, "verdicts": found, "count": len(found)})

    bp.add_url_rule("/verdicts", f"{component.name}_verdicts", verdicts)


def _doc(component, method, rule):
    fields = {
        "model_name": {"type": "string"},
        "verdicts": {"type": "array", "items": _VERDICT},
        "count": {"type": "integer"},
    }
    params = [
        query("model_name", {"type": "string", "minLength": 1}, "the model", True),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_SERIES}, "most series"),
    ]
    responses = {**ok(obj(fields, list(fields))), **error_responses(400, 503)}
    return [(rule, {"responses": responses, "parameters": params})]


VERDICT_ROUTES = DbRoutes(_register, (("verdicts", _doc),))
