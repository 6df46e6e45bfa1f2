"""The OpenAPI operation of ``GET /api/db/charts/{chart}``: its parameters and its three media."""

from unified_api_server.core.web.args import parameters
from unified_api_server.core.web.openapi import shared_parameter
from unified_api_server.core.web.openapi_ops import error_responses, obj, query, revalidated
from unified_api_server.gateway.chart_images import FORMATS
from unified_api_server.gateway.charts import CHARTS, DEFAULT_POINTS, MAX_POINTS, SIZES
from unified_api_server.registry import BY_NAME

_TEXT = {"type": "string", "minLength": 1}
_OWN = {
    "metric": (_TEXT, "benchmark-history, benchmark-latest: the metric (latency_ms_mean); "
               "compare: the metrics shown, a,b (all)"),
    "bucket": ({"type": "string", "enum": ["run", "day"]}, "test-pass-rate: a point per run "
               "(default) or per UTC day"),
    "baseline": (_TEXT, "compare: a run id or a batch id"),
    "contender": (_TEXT, "compare: a run id or a batch id"),
    "format": ({"type": "string", "enum": ["json", *FORMATS]}, "json (a plotly.js figure), "
               "or an image drawn on the server"),
    "points": ({"type": "integer", "minimum": 2, "maximum": MAX_POINTS},
               f"most points per series, or bars ({DEFAULT_POINTS}); extremes are kept"),
}  # fmt: skip
_FIGURE = obj(
    {
        "data": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "layout": {"type": "object", "additionalProperties": True},
    },
    ("data", "layout"),
)
_ANSWER = obj(
    {
        "chart": {"type": "string", "enum": sorted(CHARTS)},
        "figure": _FIGURE,
        "points": {"type": "integer"},
        "downsampled": {"type": "boolean"},
        "note": {"type": "string", "nullable": True},
    },
    ("chart", "figure", "points", "downsampled", "note"),
)


def _parameters(spec):
    """The chart's path, its options, and the grammar of the components charts read."""
    found = {}
    for name in dict.fromkeys(chart.component for chart in CHARTS.values()):
        component = BY_NAME[name]
        for parameter in parameters(component, "stats"):
            if parameter["name"] not in found:
                found[parameter["name"]] = shared_parameter(spec, component, parameter)
    for name, (schema, description) in _OWN.items():
        found.setdefault(name, query(name, schema, description))
    for name, (default, least, most) in SIZES.items():
        schema = {"type": "integer", "minimum": least, "maximum": most}
        found[name] = query(name, schema, f"image {name} in pixels ({default})")
    path = {
        "name": "chart",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": sorted(CHARTS)},
        "description": "; ".join(f"{c.name}: {c.summary}" for c in CHARTS.values()),
    }
    return [path, *found.values()]


def chart_paths(spec):
    """Return ``{path: {"get": operation}}`` of the charts route."""
    images = {
        "image/svg+xml": {"schema": {"type": "string"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
    }
    success = {
        "description": "the figure as JSON, or with format=svg|png the image",
        "content": {"application/json": {"schema": _ANSWER}, **images},
    }
    operation = {
        "summary": "Return a chart of one component's data as a plotly.js figure, SVG or PNG",
        "tags": ["gateway"],
        "parameters": _parameters(spec),
        "responses": {"200": success, **error_responses(400, 401, 403, 404, 429)},
    }
    return {"/api/db/charts/{chart}": {"get": revalidated(operation, cached=True)}}
