"""``/api/benchmark/db/histories``: several series of one model at once, read together.

The query grammar (as ``/stats`` takes it: ``hardware=``, ``precision__in=``, ``batch_size__gt=``,
``status=``, ``since=``, ``until=``, ...) chooses the model's configurations with a matching run,
the ``series`` with the most such runs; each is then one series' history, the same body
``/history`` answers for it (``since`` and ``until`` bound the points shown, as there). Every
series' points come from one statement, and their verdicts from one more, so a chart of every
configuration of a model costs about what one series does.
"""

from flask import jsonify, request

from unified_api_server.components.benchmark import history as series_history
from unified_api_server.components.benchmark.series_api import (
    answer_operation,
    history_body,
    include_of,
    read_options,
    read_params,
)
from unified_api_server.components.benchmark.series_read import series_bodies
from unified_api_server.core.component import DbRoutes
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import parameters, parse_int, parse_query
from unified_api_server.core.web.args import query_parameter as query
from unified_api_server.core.web.openapi_ops import obj
from unified_api_server.core.web.resources import cursor

DEFAULT_SERIES, MAX_SERIES = 12, 50
OWN = ("metric", "window", "points", "include", "fields", "series")  # the rest is the query grammar


def _one(name):
    values = request.args.getlist(name)
    if len(values) != 1 or not values[0]:
        raise ApiError(400, f"{name}: required query parameter, given once")
    return values[0]


def register(bp, component):
    """Add ``/histories`` to the Benchmark's database blueprint."""

    def histories():
        """Return the series of the model's configurations the grammar chooses, read together."""
        model_name, metric = _one("model_name"), _one("metric")
        include = include_of()
        most = parse_int(
            request.args.get("series"), "series", minimum=1, maximum=MAX_SERIES,
            default=DEFAULT_SERIES,
        )  # fmt: skip
        where, params = parse_query(component, request.args, allowed=OWN).where(component)
        found, total = series_history.configurations(cursor(), where, params, most)
        parts = [{name: row[name] for name in series_history.PARTS} for row in found]
        bodies = series_bodies(
            cursor(), model_name, metric, parts, include=include, **read_options()
        )
        answer = {"model_name": model_name, "metric": metric, "configurations": total}
        return jsonify({**answer, "series": bodies})

    bp.add_url_rule("/histories", f"{component.name}_histories", histories)


def histories_operation(component, method, rule):
    """``/histories``: several configurations' series of one model."""
    fields, judged = history_body()
    body = obj({**fields, "judged": judged}, list(fields))
    text = {"type": "string", "minLength": 1}
    answer = {
        "model_name": {"type": "string"},
        "metric": {"type": "string"},
        "configurations": {"type": "integer"},
        "series": {"type": "array", "items": body},
    }
    grammar = [p for p in parameters(component, "stats") if p["name"] != "model_name"]
    params = [
        query("model_name", text, "the model whose configurations are read", True),
        query("metric", text, "a headline figure (latency_ms_mean, ...) or a named metric", True),
        query(
            "series",
            {"type": "integer", "minimum": 1, "maximum": MAX_SERIES},
            f"most series: the configurations with the most matching runs ({DEFAULT_SERIES})",
        ),
        *read_params(),
        *grammar,
    ]
    return [(rule, answer_operation(answer, params=params))]


HISTORIES_ROUTES = DbRoutes(register, (("histories", histories_operation),))
