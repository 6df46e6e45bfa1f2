"""``GET /api/db/charts/{chart}``: the components' analyses as chart figures, JSON or images.

Each chart asks one component (its history, compare, pass-rate or verdicts read, with the
gateway's own credential) and returns a plotly.js figure (:mod:`.figures`) as JSON, or with
``format=svg`` / ``format=png`` the same figure drawn on the server (:mod:`.chart_images`).
A chart takes its component's query grammar where the read it draws on does, and its own
options; anything else is a 400 naming it before any component is called. Answers, images
too, are cached like the cross-component views until a write changes the data
(:mod:`.viewcache`); a component that fails makes the chart an error, never a partial figure.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import MultiDict

from unified_api_server.core import cache
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import filter_names, known_term, parse_int, parse_query
from unified_api_server.gateway import figures
from unified_api_server.gateway.chart_images import FORMATS, draw
from unified_api_server.gateway.fanout import component_call, fan_out
from unified_api_server.gateway.identity import request_identity
from unified_api_server.registry import BY_NAME

bp = Blueprint("gateway_charts", __name__)
OPTIONS = ("format", "points", "width", "height")
DEFAULT_POINTS, MAX_POINTS = 500, 2000
MAX_SERIES = 12  # lines in one history chart: the configurations with the most runs
DEFAULT_METRIC = "latency_ms_mean"
SERIES_PARTS = ("hardware", "batch_size", "precision")  # with the model, one series' runs
# What a history chart draws of each point: not its verdict (it marks the judged runs, listed
# apart), nor its rolling mean, deviation and z; left out, they are neither read nor moved.
POINT_FIELDS = ("run_id", "started_at", "value", "outlier")
SIZES = {"width": (900, 300, 3000), "height": (500, 200, 4000)}  # pixels: default, least, most


@dataclass(frozen=True)
class Chart:
    """One chart: the component it reads, its parameters, and the function building it."""

    name: str
    component: str
    build: object  # (args, options) -> the answer's fields, "figure" among them
    own: tuple  # parameters besides the options (and the grammar's terms, where it applies)
    required: tuple
    grammar: bool
    summary: str


def _state():
    return current_app.extensions["gateway"]


def _fetch(component, paths):
    """Return ``{key: body}`` of GETs of ``component`` (concurrently); a failure is an error:
    the component's own 400 or 404 passed on, else 502, 503 or 504 naming it."""
    budget = _state().settings["view_budget"]
    calls = {key: component_call(component, path, budget) for key, path in paths.items()}
    outcomes = fan_out(calls, budget)
    for outcome in outcomes.values():
        if outcome.ok:
            continue
        error = outcome.body.get("error") if isinstance(outcome.body, dict) else None
        if outcome.status_code in (400, 404) and isinstance(error, dict):
            raise ApiError(outcome.status_code, error.get("message"), error.get("details"))
        status = outcome.status_code if outcome.status_code in (503, 504) else 502
        raise ApiError(
            status, f"component '{component}': {outcome.error}", {"component": component}
        )
    return {key: outcome.body for key, outcome in outcomes.items()}


def _path(component, route, pairs):
    return f"/api/{component}/db/{route}?{urlencode(pairs)}"


def _pairs(args, leave=()):
    return [(k, v) for k, v in args.items(multi=True) if k not in leave]


def benchmark_history(args, options):
    """A line per configuration of the model that the filters select, with markers."""
    model, metric = args["model_name"], args.get("metric", DEFAULT_METRIC)
    found, configurations = _history_bodies(args, metric, options)
    bodies = [body for body in found if body["count"]]
    bodies.sort(key=lambda b: [str(b["series"][k]) for k in SERIES_PARTS])
    title = f"{model}: {metric}"
    if not bodies:
        note = f"no benchmark runs of {model!r} match"
        return {"figure": figures.empty(title, note), "points": 0, "downsampled": False,
                "series": [], "marked": {}, "note": note}  # fmt: skip
    facts = bodies[0]["series"]
    y_title = metric + (f" ({facts['unit']})" if facts.get("unit") else "")
    if facts.get("lower_is_better") is not None:
        y_title += ", lower is better" if facts["lower_is_better"] else ", higher is better"
    figure, marked = figures.history_figure(title, y_title, bodies)
    note = None
    if configurations > len(found):
        note = f"the {len(found)} of {configurations} configurations with the most runs"
    series = [
        {**{k: b["series"][k] for k in ("hardware", "batch_size", "precision")},
         "count": b["count"], "shown": len(b["points"]), "downsampled": b["downsampled"],
         "judged": len(b.get("judged", []))}
        for b in bodies
    ]  # fmt: skip
    return {
        "figure": figure,
        "points": sum(s["shown"] for s in series),
        "downsampled": any(s["downsampled"] for s in series),
        "series": series,
        "marked": marked,
        "note": note,
    }


def _history_bodies(args, metric, options):
    """Return ``(history bodies, how many configurations match)``: the one named, when every
    part is (the usual request of a model page), else the model's configurations the filters
    select, the most-run first, all read by one request (``/histories``)."""
    query = [*_pairs(args, ("metric",)), ("metric", metric), ("points", options["points"])]
    query += [("include", "verdicts"), ("fields", ",".join(POINT_FIELDS))]
    terms = set(args) - {"model_name", "metric", "since", "until"}
    if terms == set(SERIES_PARTS) and all(len(args.getlist(n)) == 1 for n in SERIES_PARTS):
        return [_fetch("benchmark", {"h": _path("benchmark", "history", query)})["h"]], 1
    query.append(("series", MAX_SERIES))
    found = _fetch("benchmark", {"h": _path("benchmark", "histories", query)})["h"]
    return found["series"], found["configurations"]


def test_pass_rate(args, options):
    """The pass rate of a model's runs (or days), a line per device set and test type."""
    model, bucket = args["model_name"], args.get("bucket", "run")
    query = [*_pairs(args), ("limit", 1000)]
    body = _fetch("test", {"h": _path("test", "history", query)})["h"]
    rated = [p for p in body["points"] if p["pass_rate"] is not None]
    groups = {}
    for point in rated:
        label = "all runs, per day" if bucket == "day" else _run_label(point)
        groups.setdefault(label, []).append(point)
    shown, downsampled = {}, False
    for label, points in groups.items():
        shown[label], cut = figures.downsample(points, options["points"], lambda p: p["pass_rate"])
        downsampled = downsampled or cut
    title = f"{model}: test pass rate per {bucket}"
    notes = []
    if body["count"] >= 1000:
        notes.append(f"the latest 1000 {bucket}s")
    if len(rated) < body["count"]:
        notes.append(f"{body['count'] - len(rated)} {bucket}(s) without a test outcome left out")
    if not rated:
        note = f"no test outcomes of {model!r} match"
        figure = figures.empty(title, note)
        notes = [note]
    else:
        x_title = "run started at (UTC)" if bucket == "run" else "day (UTC)"
        figure = figures.pass_rate_figure(title, shown, x_title)
    return {
        "figure": figure,
        "points": sum(len(points) for points in shown.values()),
        "downsampled": downsampled,
        "bucket": bucket,
        "note": "; ".join(notes) or None,
    }


def _run_label(point):
    hardware = "+".join(sorted(point.get("hardware") or [])) or "no device"
    return f"{hardware} · {point.get('test_type') or 'any type'}"


def compare(args, options):
    """A bar per compared pair and metric: the change in percent, coloured by its verdict."""
    wanted = [m for raw in args.getlist("metric") for m in raw.split(",") if m]
    body = _fetch("benchmark", {"c": _path("benchmark", "compare", _pairs(args, ("metric",)))})
    body = body["c"]
    configurations = [pair["configuration"] for pair in body["pairs"]]
    # One pair: the bars are its metrics; more: each bar names what differs between pairs.
    keys = figures.varying(configurations, list(configurations[0])) if configurations[1:] else []
    rows, missing = [], 0
    for pair in body["pairs"]:
        label = figures.configuration_label(pair["configuration"], keys) if keys else ""
        for metric, entry in pair["metrics"].items():
            if wanted and metric not in wanted:
                continue
            if entry["change_percent"] is None:
                missing += 1
                continue
            rows.append(_bar(label, metric, entry))
    before, after = body["baseline"], body["contender"]
    title = f"{body.get('model_name', before['kind'])}: {before['id']} → {after['id']}"
    return _bars_answer(
        title, "change of the contender against the baseline (%)", rows, options["points"],
        {"baseline": before, "contender": after, "without_change": missing},
    )  # fmt: skip


def _bar(label, metric, entry):
    change = entry["change_percent"]
    return {
        "label": " · ".join(part for part in (label, metric) if part),
        "value": round(change, 6),
        "direction": figures.DIRECTIONS.get(entry["verdict"], "no verdict"),
        "text": f"{entry['baseline']:.4g} → {entry['contender']:.4g} ({change:+.1f}%)",
    }


def _bars_answer(title, axis_title, rows, most, extra, horizontal=True):
    """Shape a bar chart's answer: the largest ``most`` bars, counts by direction, a note."""
    notes, cut = [], len(rows) > most
    if cut:
        keep = sorted(range(len(rows)), key=lambda i: -abs(rows[i]["value"]))[:most]
        notes.append(f"the {most} largest of {len(rows)} bars")
        rows = [rows[i] for i in sorted(keep)]
    counts = {d: 0 for d in (*figures.COLOURS, "no verdict")}
    for row in rows:
        counts[row["direction"]] += 1
    if rows:
        figure = figures.bars(title, axis_title, rows, horizontal)
    else:
        notes.append("nothing to compare")
        figure = figures.empty(title, notes[-1])
    return {"figure": figure, "points": len(rows), "downsampled": cut, "counts": counts, **extra,
            "note": "; ".join(notes) or None}  # fmt: skip


def benchmark_latest(args, options):
    """A bar per configuration of the model: its latest value of a metric, by its verdict."""
    model, metric = args["model_name"], args.get("metric", DEFAULT_METRIC)
    path = _path("benchmark", "verdicts", [("model_name", model)])
    found = [v for v in _fetch("benchmark", {"v": path})["v"]["verdicts"] if v["metric"] == metric]
    keys = figures.varying(found, ("hardware", "batch_size", "precision"))
    rows = [
        {
            "label": figures.configuration_label(v, keys or ("hardware",)),
            "value": v["value"],
            "direction": figures.DIRECTIONS.get(v["verdict"], "no verdict"),
            "text": f"{v['value']:.4g} ({v['verdict']}, run {v['run_id']})",
        }
        for v in found
        if v["value"] is not None
    ]
    title = f"{model}: latest {metric} per configuration"
    return _bars_answer(title, metric, rows, options["points"], {}, horizontal=False)


CONFIGURATION = ("model_name", "hardware", "precision", "batch_size")
CHARTS = {
    chart.name: chart
    for chart in (
        Chart("benchmark-history", "benchmark", benchmark_history, ("metric",), ("model_name",),
              True, "a model's benchmark series over time, regressions and outliers marked"),
        Chart("test-pass-rate", "test", test_pass_rate, ("bucket",), ("model_name",), True,
              "a model's test pass rate over time, per run or per day"),
        Chart("compare", "benchmark", compare, ("baseline", "contender", *CONFIGURATION,
              "metric"), (), False, "two runs or batches (or devices, precisions) compared"),
        Chart("benchmark-latest", "benchmark", benchmark_latest, ("model_name", "metric"),
              ("model_name",), False, "a model's latest value per configuration, by verdict"),
    )
}  # fmt: skip


def _options(args):
    fmt = args.get("format", "json")
    if fmt not in ("json", *FORMATS):
        raise ApiError(400, f"format: must be one of json, {', '.join(FORMATS)}, got {fmt!r}")
    options = {"format": fmt}
    options["points"] = parse_int(
        args.get("points"), "points", minimum=2, maximum=MAX_POINTS, default=DEFAULT_POINTS
    )
    for name, (_, least, most) in SIZES.items():
        options[name] = parse_int(args.get(name), name, minimum=least, maximum=most)
    return options


def _checked(chart, args):
    """Return the chart's arguments without the options; 400 for anything unknown or missing."""
    component = BY_NAME[chart.component]
    rest = MultiDict(_pairs(args, OPTIONS))
    unknown = sorted(
        n for n in rest if n not in chart.own and not (chart.grammar and known_term(component, n))
    )
    if unknown:
        allowed = [*chart.own, *(filter_names(component) if chart.grammar else ()), *OPTIONS]
        raise ApiError(
            400, f"unknown query parameter(s): {', '.join(unknown)}", {"allowed": allowed}
        )
    for name in chart.required:
        if not rest.get(name):
            raise ApiError(400, f"{name}: required query parameter")
    if chart.grammar:
        parse_query(component, MultiDict(_pairs(rest, chart.own)))  # a malformed value: 400
    return rest


@bp.get("/api/db/charts/<chart>")
def chart_view(chart):
    """Return chart ``chart`` as plotly.js figure JSON, or drawn as SVG or PNG."""
    found = CHARTS.get(chart)
    if found is None:
        raise ApiError(404, f"no chart {chart!r}", {"charts": sorted(CHARTS)})
    identity = request_identity()  # before the cache: an answer is only for who may read it
    if identity is not None and not identity.allows(found.component, "read"):
        scope = f"{found.component}:read"  # named as the gateway's own refusals name it
        message = f"API key {identity.name!r} lacks the '{scope}' scope (chart {chart!r})"
        raise ApiError(403, message, {"missing_scope": scope})
    return _answer(found)


@cache.cached("gateway.charts")  # not cached_view's check of "completed": an answer is whole
def _answer(chart):
    options = _options(request.args)
    body = chart.build(_checked(chart, request.args), options)
    figure = body["figure"]
    fmt = options["format"]
    if fmt == "json":
        for name in SIZES:
            if options[name] is not None:
                figure["layout"][name] = options[name]
        return jsonify({"chart": chart.name, **body})
    width = options["width"] or SIZES["width"][0]
    height = options["height"] or figure["layout"].get("height") or SIZES["height"][0]
    return Response(draw(figure, fmt, width, height), mimetype=FORMATS[fmt])
