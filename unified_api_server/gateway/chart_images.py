"""Chart figures drawn as SVG or PNG on the server, with matplotlib and no browser.

It draws the very figure JSON a page gets (:mod:`.figures`: line, marker and bar traces, the
title, both axes' titles, the legend), so an image in a pull request shows what the page shows.
matplotlib is imported on the first image only (about a second), never at the gateway's start,
and only its object-oriented API is used (a ``Figure`` per request, an Agg canvas): pyplot's
global state is not thread-safe. Each trace's artists carry its name as their SVG ``id``
(``trace-0``, ``trace-1``, ...: a group holding a bar trace's bars, a path each), so an SVG can
be read back by what it draws.
"""

import io
import threading
from datetime import datetime

import gevent
from gevent import monkey

from unified_api_server.gateway import chart_legend
from unified_api_server.gateway.chart_legend import SYMBOLS

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
DPI = 100
DAY = 86400.0  # seconds
_loaded = {}
_lock = threading.Lock()
_templates = {}  # a kind of chart -> the (figure, axes) it is drawn on, reused (:func:`_prepared`)
_drawing = threading.Lock()  # a gevent lock where the worker is patched (before the app loads)


def _matplotlib():
    """Import matplotlib once, lazily; SVG text stays text and SVG ids stay the same."""
    if _loaded:  # loaded: no lock to take (a drawing thread must not wait on a greenlet's lock)
        return _loaded
    with _lock:
        if not _loaded:
            import matplotlib

            # Process-wide, set once here: text as <text> (readable, searchable, smaller) and
            # ids that do not change between two drawings of one figure (a stable ETag).
            matplotlib.rcParams["svg.fonttype"] = "none"
            matplotlib.rcParams["svg.hashsalt"] = "unified-api-server"
            # A PNG's text unhinted: each glyph is rendered one by one, and hinting them was
            # a fifth of a 24-label bar chart's CPU; at these sizes the text reads the same.
            matplotlib.rcParams["text.hinting"] = "no_hinting"
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.collections import PolyCollection
            from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
            from matplotlib.figure import Figure
            from PIL import Image  # matplotlib's own dependency

            _loaded.update(
                Figure=Figure,
                Canvas=FigureCanvasAgg,
                Image=Image,
                AutoDateLocator=AutoDateLocator,
                ConciseDateFormatter=ConciseDateFormatter,
                PolyCollection=PolyCollection,
            )
    return _loaded


def _days(values):
    """Return ISO 8601 times as matplotlib's date numbers (days since 1970, its epoch): the
    floats its date converter would make of datetimes, at a fraction of the cost."""
    return [datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() / DAY for v in values]


def _scatter(axes, trace, gid, dates):
    xs = _days(trace["x"]) if dates else trace["x"]
    marker = trace.get("marker", {})
    symbol = marker.get("symbol", "circle")
    hollow = symbol.endswith("-open")
    shape = SYMBOLS.get(symbol.removesuffix("-open"), "o")
    colour = marker.get("color") or trace.get("line", {}).get("color")
    mode = trace.get("mode", "lines+markers")
    if "lines" in mode:
        (artist,) = axes.plot(
            xs,
            trace["y"],
            label=trace["name"],
            color=trace.get("line", {}).get("color", colour),
            linewidth=trace.get("line", {}).get("width", 1.5),
            marker=shape if "markers" in mode else None,
            markersize=marker.get("size", 5) * 0.6,
        )
    else:
        artist = axes.scatter(
            xs,
            trace["y"],
            label=trace["name"],
            marker=shape,
            s=(marker.get("size", 8) * 0.8) ** 2,
            facecolors="none" if hollow else colour,
            edgecolors=colour,
            linewidths=1.5,
            zorder=3,
        )
    artist.set_gid(gid)


def _bars(axes, trace, gid, positions, horizontal):
    """Draw a bar trace as one collection of rectangles (its SVG group ``gid``, a path a bar):
    ``bar`` adds a patch a bar, each drawn and its limits taken one by one."""
    values = trace["x" if horizontal else "y"]
    labels = trace["y" if horizontal else "x"]
    shapes = []
    for label, value in zip(labels, values):
        low, high = positions[label] - 0.4, positions[label] + 0.4
        corners = [(0, low), (value, low), (value, high), (0, high)]
        shapes.append(corners if horizontal else [(x, y) for y, x in corners])
    colour = trace.get("marker", {}).get("color")
    bars = _matplotlib()["PolyCollection"](
        shapes, facecolors=colour, edgecolors="none", linewidths=0, label=trace["name"]
    )
    (bars.sticky_edges.x if horizontal else bars.sticky_edges.y).append(0)  # as bar() does
    bars.set_gid(gid)
    axes.add_collection(bars)


def _categories(figure, axis):
    shape = figure["layout"].get(axis, {})
    order = list(shape.get("categoryarray") or [])
    for trace in figure["data"]:
        order += [label for label in trace.get(axis[0], ()) if label not in order]
    return {label: index for index, label in enumerate(order)}


def _draw(axes, figure):
    shape = figure["layout"]
    dates = shape.get("xaxis", {}).get("type") == "date"
    bars = [trace for trace in figure["data"] if trace["type"] == "bar"]
    horizontal = _is_horizontal(figure)
    axis = "yaxis" if horizontal else "xaxis"
    positions = _categories(figure, axis) if bars else {}  # a bar chart's axis of labels
    for index, trace in enumerate(figure["data"]):
        gid = f"trace-{index}"
        if trace["type"] == "bar":
            _bars(axes, trace, gid, positions, horizontal)
        else:
            _scatter(axes, trace, gid, dates)
    if positions:
        ticks = axes.set_yticks if horizontal else axes.set_xticks
        ticks(list(positions.values()), list(positions), fontsize=8)
        if horizontal:
            axes.axvline(0, color="#444444", linewidth=0.8)
            reversed_ = shape.get(axis, {}).get("autorange") == "reversed"
            if reversed_ != axes.yaxis_inverted():  # reused axes may be inverted already
                axes.invert_yaxis()
    y_range = shape.get("yaxis", {}).get("range")
    if y_range:
        axes.set_ylim(*y_range)


def _arrange(canvas_figure, figure, width, height):
    """Set the margins from what the figure holds, and put the legend below the plot.

    Fixed margins, not ``tight_layout``: that measures every label in an extra drawing pass,
    a third of the time of a whole chart; a legend placed "best" searches every point, and
    matplotlib's legend below the plot measures each label many times (:mod:`.chart_legend`).
    """
    rows = len(chart_legend.layout(figure["data"], width)[0]) if figure["data"] else 0
    labels = (
        [str(label) for label in _categories(figure, "yaxis")] if _is_horizontal(figure) else []
    )
    left = 70 + 5 * max(map(len, labels), default=0)  # px: tick labels of about 5 px a character
    dated = figure["layout"].get("xaxis", {}).get("type") == "date"
    bottom = (75 if dated else 60) + 20 * rows
    canvas_figure.subplots_adjust(
        left=min(0.6, left / width),
        right=1 - 20 / width,
        top=1 - 40 / height,
        bottom=min(0.6, bottom / height),
    )
    chart_legend.place(canvas_figure, figure["data"], width, height)


def _is_horizontal(figure):
    return any(t.get("orientation") == "h" for t in figure["data"] if t["type"] == "bar")


def draw(figure, fmt, width, height):
    """Return :func:`render`'s image, drawn without stalling the gateway's other requests.

    Under gevent (the gateway's worker) drawing, a few hundred ms of CPU, would hold every
    other request and socket of the worker: it runs on the hub's thread pool while this
    greenlet waits, one drawing at a time (matplotlib's font caches are shared).
    """
    _matplotlib()  # imported here, on the greenlet, before any thread draws
    with _drawing:
        if monkey.is_module_patched("threading"):
            return gevent.get_hub().threadpool.apply(render, (figure, fmt, width, height))
        return render(figure, fmt, width, height)


def _kind(figure):
    """Return the kind of axes ``figure`` is drawn on: each kind's axes are prepared once."""
    if figure["layout"].get("annotations"):
        return "note"
    if figure["layout"].get("xaxis", {}).get("type") == "date":
        return "dates"
    return "bars-h" if _is_horizontal(figure) else "bars"


def _prepared(kind, width, height):
    """Return the ``(figure, axes)`` kept for ``kind``, emptied and sized ``width`` x ``height``.

    Building a figure and its axes, and the ticks an axis makes as it is first drawn, is a
    tenth or more of a small chart's time: each kind (dates, bars, a note) keeps its own, and
    a drawing takes away what the last one added (lines, markers, bars, texts, the legend)
    and sets what it varies (limits, ticks, titles). The caller draws one at a time.
    """
    mpl = _matplotlib()
    found = _templates.get(kind)
    if found is None:
        canvas_figure = mpl["Figure"](figsize=(width / DPI, height / DPI), dpi=DPI)
        mpl["Canvas"](canvas_figure)
        axes = canvas_figure.add_subplot()
        axes.grid(True, color="#e5e5e5", linewidth=0.6)
        axes.set_axisbelow(True)
        if kind == "dates":
            # Short labels that need no rotation ("Mar", "12", "06:00" and the year once at
            # the end) instead of autofmt_xdate's rotated full dates, which measured every
            # label: a fifth of an image's time.
            locator = mpl["AutoDateLocator"]()
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(mpl["ConciseDateFormatter"](locator))
        _templates[kind] = found = (canvas_figure, axes)
        return found
    canvas_figure, axes = found
    canvas_figure.set_size_inches(width / DPI, height / DPI)
    for artist in (*axes.lines, *axes.collections, *axes.patches, *axes.texts):
        artist.remove()
    for artist in list(canvas_figure.artists):  # the legend
        artist.remove()
    axes.relim()  # no artists: the data limits are forgotten
    axes.set_autoscale_on(True)
    return found


def render(figure, fmt, width, height):
    """Return the bytes of ``figure`` drawn as ``fmt`` (``svg`` or ``png``), ``width`` x
    ``height`` pixels; one drawing at a time (:func:`draw` sees to it)."""
    mpl = _matplotlib()
    canvas_figure, axes = _prepared(_kind(figure), width, height)
    shape = figure["layout"]
    # A title placed by hand: placing it itself, matplotlib measures every tick label first.
    axes.set_title(shape.get("title", {}).get("text", ""), y=1.01)
    axes.set_xlabel(shape.get("xaxis", {}).get("title", {}).get("text", ""))
    axes.set_ylabel(shape.get("yaxis", {}).get("title", {}).get("text", ""))
    _draw(axes, figure)
    for note in shape.get("annotations", ()):
        axes.text(0.5, 0.5, note["text"], transform=axes.transAxes, ha="center", va="center")
        axes.set_xticks([])
        axes.set_yticks([])
    _arrange(canvas_figure, figure, width, height)
    out = io.BytesIO()
    if fmt == "svg":
        canvas_figure.savefig(out, format=fmt, metadata={"Date": None})
        return out.getvalue()
    # PNG: drawn by Agg, then saved with a palette of 256 colours (the fast octree's) at zlib
    # level 3. matplotlib's own saving keeps the alpha channel at level 6: 60 ms of encoding for
    # a 900 x 500 chart; RGB at level 3 was 23 ms; a palette is fewer bytes to compress: about
    # two thirds of that time and a third of the size (a chart has a few colours and their
    # anti-aliased edges: no difference to see).
    canvas = canvas_figure.canvas
    canvas.draw()
    pixels = mpl["Image"].frombuffer(
        "RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1
    )
    palette = pixels.convert("RGB").quantize(256, method=mpl["Image"].Quantize.FASTOCTREE)
    palette.save(out, format="png", compress_level=3)
    return out.getvalue()
