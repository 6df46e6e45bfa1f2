"""Chart figures as plotly.js figure JSON, built as plain dicts from the components' answers.

A figure is ``{"data": [trace, ...], "layout": {...}}``, what ``Plotly.newPlot(el, data,
layout)`` takes; :mod:`.chart_images` draws the same dicts with matplotlib. plotly's own
``graph_objects`` are not used: validating every trace costs more than building it. Colours are
set on every trace, so the page and the image agree: a verdict is red when worse, green when
better and grey when unchanged, whatever the metric's direction.
"""

# Series colours: Tableau's, less the red, green and orange that mark verdicts and outliers.
PALETTE = (
    "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
)  # fmt: skip
WORSE, BETTER, UNCHANGED, OUTLIER = "#d62728", "#2ca02c", "#9e9e9e", "#ff7f0e"
# A compare verdict and what the chart calls it (direction-aware: "regression" is worse).
DIRECTIONS = {"regression": "worse", "improvement": "better", "ok": "unchanged"}
COLOURS = {"worse": WORSE, "better": BETTER, "unchanged": UNCHANGED}
MARKERS_UP_TO = 100  # a line of more points is drawn without a marker on each
_NAMES = {"batch_size": "bs {}"}


def downsample(points, limit, value):
    """Keep at most ``limit`` of ``points`` (in order): each of ``limit // 2`` runs of
    consecutive points keeps its lowest and highest ``value``, so no extreme is lost (the same
    rule as the Benchmark's history). Returns ``(kept, downsampled)``."""
    total = len(points)
    if total <= limit:
        return list(points), False
    buckets = max(1, limit // 2)
    chosen = {}
    for index, point in enumerate(points):
        bucket = index * buckets // total
        low, high = chosen.get(bucket, (index, index))
        if value(point) < value(points[low]):
            low = index
        if value(point) > value(points[high]):
            high = index
        chosen[bucket] = (low, high)
    kept = sorted({i for pair in chosen.values() for i in pair})
    return [points[i] for i in kept], True


def layout(title, x_title, y_title, **extra):
    """Return a figure layout with a title, both axes' titles and a legend below the plot."""
    found = {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
        "margin": {"t": 60, "r": 20},
    }
    for axis in ("xaxis", "yaxis"):
        found[axis].update(extra.pop(axis, {}))
    return {**found, **extra}


def empty(title, note):
    """Return a figure with no traces that says why (a series with no data)."""
    figure = {"data": [], "layout": layout(title, "", "")}
    figure["layout"]["annotations"] = [
        {"text": note, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}
    ]
    return figure


def line(name, xs, ys, colour, text=None):
    """Return a line trace (markers on each point while there are few)."""
    mode = "lines+markers" if len(xs) <= MARKERS_UP_TO else "lines"
    trace = {
        "type": "scatter",
        "mode": mode,
        "name": name,
        "x": xs,
        "y": ys,
        "line": {"color": colour, "width": 1.5},
        "marker": {"color": colour, "size": 5},
    }
    if text is not None:
        trace["text"] = text
    return trace


def markers(name, points, symbol, colour, open_=False):
    """Return a markers-only trace of ``points`` (``{x, y, text}``) such as the regressions."""
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": [p["x"] for p in points],
        "y": [p["y"] for p in points],
        "text": [p["text"] for p in points],
        "marker": {
            "symbol": f"{symbol}-open" if open_ else symbol,
            "color": colour,
            "size": 11,
            "line": {"color": colour, "width": 1.5},
        },
    }


def configuration_label(configuration, keys):
    """Return a short label of a configuration: its ``keys``' values, e.g. ``cpu · bs 8``."""
    parts = []
    for key in keys:
        value = configuration.get(key)
        if isinstance(value, list):
            value = "+".join(map(str, value))
        elif value is None:
            value = "none"
        parts.append(_NAMES.get(key, "{}").format(value))
    return " · ".join(parts) or "all"


def varying(configurations, keys):
    """Return the ``keys`` whose value differs between ``configurations`` (all if only one)."""
    if len(configurations) <= 1:
        return [k for k in keys if k != "model_name"]
    return [k for k in keys if len({str(c.get(k)) for c in configurations}) > 1]


def history_figure(title, y_title, bodies):
    """Return the figure of one or several series' history bodies (``include=verdicts``): a
    line per series, and markers on its outliers, regressions and improvements."""
    configurations = [b["series"] for b in bodies]
    keys = varying(configurations, ("hardware", "batch_size", "precision"))
    data, marked = [], {"regression": [], "improvement": [], "outlier": []}
    for index, body in enumerate(bodies):
        name = configuration_label(body["series"], keys or ("hardware",))
        points = body["points"]
        xs, ys = [p["started_at"] for p in points], [p["value"] for p in points]
        colour = PALETTE[index % len(PALETTE)]
        data.append(line(name, xs, ys, colour, [p["run_id"] for p in points]))
        for point in points:
            if point["outlier"]:
                marked["outlier"].append(_marked(point, name))
        for point in body.get("judged", ()):
            marked[point["verdict"]].append(_marked(point, name))
    styles = (
        ("regression", "regressions", "triangle-up", WORSE, False),
        ("improvement", "improvements", "triangle-down", BETTER, False),
        ("outlier", "outliers (|z| over the threshold)", "circle", OUTLIER, True),
    )
    for kind, name, symbol, colour, open_ in styles:
        if marked[kind]:
            data.append(markers(name, marked[kind], symbol, colour, open_))
    shape = layout(title, "run started at (UTC)", y_title, xaxis={"type": "date"})
    return {"data": data, "layout": shape}, {k: len(v) for k, v in marked.items()}


def _marked(point, name):
    return {"x": point["started_at"], "y": point["value"], "text": f"{name}: {point['run_id']}"}


def pass_rate_figure(title, groups, x_title):
    """Return the figure of pass rates over time: a line per group (``name -> points``)."""
    data = []
    for index, (name, points) in enumerate(groups.items()):
        xs = [p["started_at"] for p in points]
        ys = [round(p["pass_rate"] * 100, 4) for p in points]
        text = [f"{p['passed']} passed, {p['failed'] + p['error']} failed" for p in points]
        data.append(line(name, xs, ys, PALETTE[index % len(PALETTE)], text))
    y_axis = {"range": [0, 100], "ticksuffix": "%"}
    shape = layout(title, x_title, "pass rate (%)", xaxis={"type": "date"}, yaxis=y_axis)
    return {"data": data, "layout": shape}


def bars(title, x_title, rows, horizontal=True):
    """Return a bar figure of ``rows`` (``{label, value, direction, text}``), one trace per
    direction so the legend names the colours; categories keep the rows' order."""
    data = []
    value_axis, label_axis = ("x", "y") if horizontal else ("y", "x")
    for direction, colour in (*COLOURS.items(), ("no verdict", UNCHANGED)):
        chosen = [row for row in rows if row["direction"] == direction]
        if not chosen:
            continue
        trace = {
            "type": "bar",
            "name": direction,
            value_axis: [row["value"] for row in chosen],
            label_axis: [row["label"] for row in chosen],
            "text": [row["text"] for row in chosen],
            "marker": {"color": colour},
        }
        if horizontal:
            trace["orientation"] = "h"
        data.append(trace)
    categories = {
        "type": "category",
        "categoryorder": "array",
        "categoryarray": [row["label"] for row in rows],
        "automargin": True,
    }
    if horizontal:
        categories["autorange"] = "reversed"  # the first row at the top
        shape = layout(title, x_title, "", yaxis=categories, barmode="overlay")
        shape["height"] = min(4000, 160 + 24 * len(rows))
    else:
        shape = layout(title, "", x_title, xaxis=categories, barmode="overlay")
    return {"data": data, "layout": shape}
