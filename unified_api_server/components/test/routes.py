"""The Test Suite's own analyses under ``/api/test/db``: compare, flaky tests, pass-rate history.

The views parse arguments and shape answers; :mod:`.analysis` holds the SQL. Each route's
OpenAPI operation is written beside it and handed to the spec through ``DbRoutes``.
"""

from flask import jsonify, request

from unified_api_server.components.test import analysis
from unified_api_server.core.component import DbRoutes
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import only, parameters, parse_int, parse_query
from unified_api_server.core.web.args import query_parameter as query
from unified_api_server.core.web.openapi_ops import error_responses, obj, ok
from unified_api_server.core.web.resources import cursor

MAX_WINDOW = 10_000
MAX_LIST = 1000
BUCKETS = ("run", "day")
_INT = {"type": "integer"}
_TEXT = {"type": "string"}
_NUMBER = {"type": "number", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_STATUS = {"type": "string", "nullable": True}
_COUNTS = {name: _INT for name in ("passed", "failed", "error", "skipped")}
_CHANGE = {
    "name": _TEXT,
    "baseline": _STATUS,
    "contender": _STATUS,
    "baseline_run_id": _STATUS,
    "contender_run_id": _STATUS,
    "message": _STATUS,
}
_FLAKY = {
    "model_name": _TEXT,
    "hardware": {"type": "array", "items": _TEXT},
    "test_type": _STATUS,
    "name": _TEXT,
    "runs": _INT,
    "passed": _INT,
    "failed": _INT,
    "flips": _INT,
    "flip_rate": {"type": "number"},
    "last_outcomes": {"type": "array", "items": _TEXT},
    "last_run_at": _TIME,
}
_POINT = {"started_at": _TIME, **_COUNTS, "pass_rate": _NUMBER}


def _rows(fields, required=()):
    return {"type": "array", "items": obj(fields, required or list(fields))}


def _int(name, default, minimum, maximum):
    return parse_int(
        request.args.get(name), name, minimum=minimum, maximum=maximum, default=default
    )


def _compare_args():
    only(request.args, ["baseline", "contender", "limit"])
    ids = {}
    for name in ("baseline", "contender"):
        ids[name] = request.args.get(name, "")
        if not ids[name]:
            raise ApiError(400, f"{name}: required, a run id or a batch id")
    return ids


def register(bp, component):
    """Add ``/compare``, ``/flaky`` and ``/history`` to the Test Suite's database blueprint."""

    def compare():
        """Compare two runs or batches test by test: newly failing, newly passing and more."""
        ids = _compare_args()
        limit = _int("limit", 100, 1, MAX_LIST)
        sides = [analysis.resolve(cursor(), ids[name]) for name in ("baseline", "contender")]
        return jsonify({"limit": limit, **analysis.compare(cursor(), *sides, limit)})

    def flaky():
        """List tests whose outcome flips between pass and fail within one configuration."""
        query = parse_query(component, request.args, allowed=("window", "min_flips", "limit"))
        window = _int("window", 20, 2, MAX_WINDOW)
        min_flips = _int("min_flips", 2, 1, MAX_WINDOW)
        limit = _int("limit", 100, 1, MAX_LIST)
        tests = analysis.flaky(cursor(), component, query, window, min_flips, limit)
        return jsonify(
            {"window": window, "min_flips": min_flips, "tests": tests, "count": len(tests)}
        )

    def history():
        """Return the pass rate of the selected runs over time, per run or per day."""
        query = parse_query(component, request.args, allowed=("bucket", "limit"))
        bucket = request.args.get("bucket", "run")
        if bucket not in BUCKETS:
            raise ApiError(400, f"bucket: must be one of {', '.join(BUCKETS)}, got {bucket!r}")
        limit = _int("limit", MAX_LIST, 1, MAX_LIST)
        points = analysis.pass_rate_history(cursor(), component, query, bucket, limit)
        return jsonify({"bucket": bucket, "points": points, "count": len(points)})

    for view in (compare, flaky, history):
        bp.add_url_rule(f"/{view.__name__}", f"{component.name}_{view.__name__}", view)


def _answer(fields, *errors, params):
    return {
        "responses": {**ok(obj(fields, list(fields))), **error_responses(400, 503, *errors)},
        "parameters": params,
    }


def compare_operation(component, method, rule):
    """``/compare``: two runs or batches, test by test."""
    kinds = {"type": "string", "enum": ["run", "batch"]}
    side = obj({"id": _TEXT, "kind": kinds, "runs": _INT, "tests": _INT}, ("id", "kind"))
    counts = obj({name: _INT for name in analysis.CATEGORIES}, analysis.CATEGORIES)
    fields = {"baseline": side, "contender": side, "limit": _INT, "counts": counts}
    fields.update((name, _rows(_CHANGE)) for name in analysis.LISTED)
    params = [
        query(name, {"type": "string", "minLength": 1}, f"the {name}: a run id or a batch id", True)
        for name in ("baseline", "contender")
    ]
    limit = {"type": "integer", "minimum": 1, "maximum": MAX_LIST}
    params.append(query("limit", limit, "most tests listed per category (100); counts are all"))
    return [(rule, _answer(fields, 404, params=params))]


def flaky_operation(component, method, rule):
    """``/flaky``: tests that flip within a configuration's latest runs."""
    fields = {"window": _INT, "min_flips": _INT, "tests": _rows(_FLAKY), "count": _INT}
    window = {"type": "integer", "minimum": 2, "maximum": MAX_WINDOW}
    params = [
        query("window", window, "latest finished runs per configuration looked at (20)"),
        query("min_flips", {**window, "minimum": 1}, "least flips a test needs to be listed (2)"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIST}, "most tests (100)"),
        *parameters(component, "stats"),
    ]
    return [(rule, _answer(fields, params=params))]


def history_operation(component, method, rule):
    """``/history``: pass rate per run or per day."""
    points = _rows({**_POINT, "run_id": _TEXT, "runs": _INT}, list(_POINT))
    fields = {"bucket": {"type": "string", "enum": list(BUCKETS)}, "points": points, "count": _INT}
    params = [
        query("bucket", {"type": "string", "enum": list(BUCKETS)}, "a point per run or per day"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIST}, "latest points"),
        *parameters(component, "stats"),
    ]
    return [(rule, _answer(fields, params=params))]


ROUTES = DbRoutes(
    register,
    (("compare", compare_operation), ("flaky", flaky_operation), ("history", history_operation)),
)
