"""The Benchmark's series views under ``/api/benchmark/db``: ``/history`` and ``/compare``.

The views parse arguments and shape answers; :mod:`.history` and :mod:`.compare` hold the SQL.
Each route's OpenAPI operation is written beside it and handed to the spec through ``DbRoutes``.
"""

from flask import jsonify, request

from unified_api_server.components.benchmark import compare as comparing
from unified_api_server.components.benchmark.analysis import VERDICTS_NAMED
from unified_api_server.components.benchmark.series import CONFIGURATION, SeriesKey
from unified_api_server.components.benchmark.series_read import series_bodies
from unified_api_server.core.component import DbRoutes
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import parse_bool, parse_fields, parse_int, parse_time
from unified_api_server.core.web.args import query_parameter as query
from unified_api_server.core.web.openapi_ops import error_responses, obj, ok
from unified_api_server.core.web.resources import cursor

MAX_POINTS = 10_000
DEFAULT_POINTS = 1000
MAX_WINDOW = 1000
MAX_JUDGED = 1000  # regressions and improvements listed with include=verdicts (the newest)
INCLUDES = ("samples", "verdicts")
# A point's fields, in the answer's order; ``fields=`` keeps some (samples and verdict come
# only with ``include=``). A chart asks for what it draws: leaving out ``verdict`` leaves
# each shown point's stored verdict unread (``judged`` still comes with include=verdicts).
POINT_FIELDS = ("run_id", "started_at", "value", "mean", "stddev", "z", "outlier", "samples",
                "verdict")  # fmt: skip
SERIES_ARGS = (*CONFIGURATION, "metric")
# Parts a run may leave without a value: ``name__isnull=true`` names the series without one.
ABSENT = tuple(f"{name}__isnull" for name in ("batch_size", "precision"))
HISTORY_ARGS = (*SERIES_ARGS, *ABSENT, "window", "since", "until", "points", "include", "fields")
PAIR_ARGS = ("baseline", "contender")
VARIANT_ARGS = ("model_name", *comparing.VARIED, "batch_size")


def _refuse_unknown(allowed):
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise ApiError(
            400, f"unknown query parameter(s): {', '.join(unknown)}", {"allowed": list(allowed)}
        )


def _required(name):
    value = request.args.get(name, "")
    if not value:
        absent = f"{name}__isnull"
        other = f" (or {absent}=true: the series without one)" if absent in ABSENT else ""
        raise ApiError(400, f"{name}: required query parameter{other}")
    return value


def _part(name):
    """Return a series part: ``name=v``, or None for ``name__isnull=true`` (the grammar's)."""
    absent = f"{name}__isnull"
    if absent not in ABSENT or absent not in request.args:
        return _required(name)
    if request.args.get(name):
        raise ApiError(400, f"{name}: give {name}=<value> or {absent}=true, not both")
    if not parse_bool(request.args[absent], absent):
        raise ApiError(
            400, f"{absent}: only true names a series (one without {name}); else {name}=<value>"
        )
    return None


def _series_key():
    values = {name: _part(name) for name in SERIES_ARGS}
    if values["batch_size"] is not None:
        values["batch_size"] = parse_int(values["batch_size"], "batch_size", minimum=1)
    return SeriesKey(**values)


def _time(name):
    value = request.args.get(name)
    return None if value is None else parse_time(value, name)


def history():
    """Return one series' points with rolling mean, stddev, z and outlier flag, downsampled."""
    _refuse_unknown(HISTORY_ARGS)
    key = _series_key()
    include = include_of()
    parts = {name: getattr(key, name) for name in CONFIGURATION[1:]}
    body = series_bodies(
        cursor(), key.model_name, key.metric, [parts], include=include, **read_options()
    )[0]
    return jsonify(body)


def read_options():
    """Return the options of a history read: ``window``, ``points``, ``since``, ``until``,
    ``fields`` (a point's fields to return; None: all)."""
    window = parse_int(
        request.args.get("window"), "window", minimum=2, maximum=MAX_WINDOW, default=None
    )
    points = parse_int(
        request.args.get("points"), "points", minimum=2, maximum=MAX_POINTS, default=DEFAULT_POINTS
    )
    since, until = _time("since"), _time("until")
    fields = parse_fields(None, request.args.get("fields"), POINT_FIELDS)
    return {
        "window": window,
        "points": points,
        "since": since,
        "until": until,
        "judged": MAX_JUDGED,
        "fields": fields and [name for name in POINT_FIELDS if name in fields],
    }


def include_of():
    """Return what ``include=samples,verdicts`` asks to add; 400 naming anything else."""
    asked = [part for raw in request.args.getlist("include") for part in raw.split(",")]
    unknown = sorted(set(asked) - set(INCLUDES))
    if unknown:
        raise ApiError(
            400, f"include: can add {' and '.join(INCLUDES)}, not {', '.join(map(repr, unknown))}"
        )
    return set(asked)


def _side(kind, ident, runs):
    return {"id": ident, "kind": kind, "runs": runs}


def _variant():
    _refuse_unknown(VARIANT_ARGS)
    model_name = _required("model_name")
    varied = [name for name in comparing.VARIED if name in request.args]
    if len(varied) != 1:
        raise ApiError(400, "give one of hardware=a,b or precision=a,b to compare across")
    values = request.args[varied[0]].split(",")
    if len(values) != 2 or not all(values) or values[0] == values[1]:
        raise ApiError(400, f"{varied[0]}: give two different values, baseline first: a,b")
    extra = {}
    if request.args.get("batch_size"):
        extra["batch_size"] = parse_int(request.args["batch_size"], "batch_size", minimum=1)
    keys = tuple(name for name in CONFIGURATION if name != varied[0])
    sides = comparing.variant_sides(model_name, varied[0], values, extra)
    body, runs = comparing.compare(cursor(), *sides, keys)
    sides = {
        "baseline": {"kind": varied[0], "id": values[0], "runs": runs[0]},
        "contender": {"kind": varied[0], "id": values[1], "runs": runs[1]},
    }
    return {"model_name": model_name, "varied": varied[0], **sides, **body}


def compare():
    """Compare two runs or batches (or one model across devices or precisions), per metric."""
    if "baseline" not in request.args and "contender" not in request.args:
        return jsonify(_variant())
    _refuse_unknown(PAIR_ARGS)
    found = [comparing.resolve(cursor(), _required(name), name) for name in PAIR_ARGS]
    body, runs = comparing.compare(cursor(), *(comparing.side(*one) for one in found))
    sides = {name: _side(*one, count) for name, one, count in zip(PAIR_ARGS, found, runs)}
    return jsonify({**sides, **body})


def register(bp, component):
    """Add ``/history`` and ``/compare`` to the Benchmark's database blueprint."""
    for view in (history, compare):
        bp.add_url_rule(f"/{view.__name__}", f"{component.name}_{view.__name__}", view)


_TEXT = {"type": "string"}
_INT = {"type": "integer"}
_NUMBER = {"type": "number", "nullable": True}
_BOOL = {"type": "boolean", "nullable": True}
_VERDICT = {"type": "string", "enum": list(VERDICTS_NAMED), "nullable": True}
_CONFIGURATION = {
    "model_name": _TEXT,
    "hardware": _TEXT,
    "batch_size": {"type": "integer", "nullable": True},
    "precision": {"type": "string", "nullable": True},
}


def answer_operation(fields, *errors, params, optional=None):
    """Return an operation answering an object of ``fields`` (``optional`` ones too)."""
    schema = obj({**fields, **(optional or {})}, list(fields))
    return {
        "responses": {**ok(schema), **error_responses(400, 503, *errors)},
        "parameters": params,
    }


def history_operation(component, method, rule):
    """``/history``: one series' points with rolling statistics."""
    fields, judged = history_body()
    answer = answer_operation(fields, params=_history_params(), optional={"judged": judged})
    return [(rule, answer)]


def history_body():
    """Return ``(fields, judged)``: the schema of one series' history answer (``judged``
    comes with ``include=verdicts``)."""
    point = obj(
        {
            "run_id": _TEXT,
            "started_at": {"type": "string", "format": "date-time"},
            "value": {"type": "number"},
            "mean": _NUMBER,
            "stddev": _NUMBER,
            "z": _NUMBER,
            "outlier": {"type": "boolean"},
            "samples": {"type": "array", "items": {"type": "number"}, "nullable": True},
            "verdict": _VERDICT,
        },
        # none required: fields= may leave any out (all but samples and verdict by default)
    )
    series = obj({**_CONFIGURATION, "metric": _TEXT, "lower_is_better": _BOOL})
    fields = {
        "series": series,
        "window": _INT,
        "z_threshold": {"type": "number"},
        "count": _INT,
        "downsampled": {"type": "boolean"},
        "points": {"type": "array", "items": point},
    }
    judged = {
        "type": "array",
        "items": obj(
            {
                "run_id": _TEXT,
                "started_at": {"type": "string", "format": "date-time"},
                "value": _NUMBER,
                "verdict": _VERDICT,
                "baseline": _NUMBER,
                "change": _NUMBER,
                "z": _NUMBER,
            },
            ("run_id", "started_at", "verdict"),
        ),
    }
    return fields, judged


def _history_params():
    text = {"type": "string", "minLength": 1}
    time = {"type": "string", "format": "date-time"}
    return [
        query("model_name", text, "the series' model", True),
        query("hardware", text, "the series' device", True),
        query(
            "batch_size",
            {"type": "integer", "minimum": 1},
            "the series' batch size (required unless batch_size__isnull=true)",
        ),
        query("precision", text, "the series' precision (required unless precision__isnull=true)"),
        *(
            query(name, {"type": "boolean"}, f"true: the series without {name[:-8]} (NULL)")
            for name in ABSENT
        ),
        query("metric", text, "a headline figure (latency_ms_mean, ...) or a named metric", True),
        query("since", time, "show points started at or after this time"),
        query("until", time, "only points started before this time"),
        *read_params(),
    ]


def read_params():
    """Return the OpenAPI parameters of a history read's options: window, points, include."""
    return [
        query("window", {**_INT, "minimum": 2, "maximum": MAX_WINDOW}, "points before (20)"),
        query("points", {**_INT, "minimum": 2, "maximum": MAX_POINTS}, "most points (1000)"),
        query(
            "include",
            {"type": "string", "pattern": "^(samples|verdicts)(,(samples|verdicts))?$"},
            "samples: each run's raw samples; verdicts: each point's stored verdict, and judged: "
            f"the shown range's regressions and improvements (the newest {MAX_JUDGED})",
        ),
        query(
            "fields",
            {
                "type": "string",
                "pattern": f"^({'|'.join(POINT_FIELDS)})(,({'|'.join(POINT_FIELDS)}))*$",
            },
            "a point's fields to return, comma-separated (all by default); without verdict, "
            "each point's verdict is not read (judged still comes with include=verdicts)",
        ),
    ]


def compare_operation(component, method, rule):
    """``/compare``: two runs or batches, or one model across devices or precisions."""
    compared = obj(
        {
            "baseline": _NUMBER,
            "contender": _NUMBER,
            "change_percent": _NUMBER,
            "lower_is_better": _BOOL,
            "threshold_percent": {"type": "number"},
            "verdict": {"type": "string", "enum": list(comparing.VERDICTS), "nullable": True},
        }
    )
    pair = obj(
        {
            "configuration": obj(_CONFIGURATION),
            "baseline_run_id": _TEXT,
            "contender_run_id": _TEXT,
            "metrics": {"type": "object", "additionalProperties": compared},
        }
    )
    side = obj({"id": _TEXT, "kind": _TEXT, "runs": _INT})
    unpaired = {"type": "array", "items": obj({**_CONFIGURATION, "run_id": _TEXT})}
    fields = {
        "baseline": side,
        "contender": side,
        "rule": {"type": "string", "enum": [comparing.RULE]},
        "pairs": {"type": "array", "items": pair},
        "only_in_baseline": unpaired,
        "only_in_contender": unpaired,
        "counts": obj({name: _INT for name in ("pairs", *comparing.VERDICTS)}),
    }
    text = {"type": "string", "minLength": 1}
    params = [
        query("baseline", text, "a run id or a batch id (or use model_name with hardware=a,b)"),
        query("contender", text, "a run id or a batch id"),
        query("model_name", text, "the model compared across devices or precisions"),
        query("hardware", text, "two devices, baseline first: a,b"),
        query("precision", text, "two precisions, baseline first: a,b"),
        query("batch_size", {"type": "integer", "minimum": 1}, "only this batch size"),
    ]
    return [(rule, answer_operation(fields, 404, params=params))]


SERIES_ROUTES = DbRoutes(register, (("history", history_operation), ("compare", compare_operation)))
