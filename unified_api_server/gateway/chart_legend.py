"""A chart image's legend below the plot, laid out by hand on a grid of fixed cells.

matplotlib's own legend packs its entries in nested boxes that measure every label several
times over: for the 10 entries of a history chart of 8 configurations it was half the CPU of
the whole image. Here each entry is a handle (a line, a marker or a bar's swatch, styled as
its trace is drawn) and a label, placed in columns sized from the labels' lengths, filled
column by column as matplotlib's are. matplotlib is imported by the caller first
(:mod:`.chart_images`), never at the gateway's start.
"""

# plotly's marker symbols and matplotlib's.
SYMBOLS = {"circle": "o", "triangle-up": "^", "triangle-down": "v", "square": "s", "x": "x"}
FONT_SIZE = 8  # points
ROW = 20  # px: a row of entries
HANDLE, GAP, SPACING = 20, 6, 18  # px: a handle's length, then to its label; between columns
CHARACTER = 6.5  # px: a label's character at FONT_SIZE and 100 dpi, erring wide


def _width(entries):
    return HANDLE + GAP + CHARACTER * max(len(trace["name"]) for trace in entries) + SPACING


def _columns(traces, columns):
    """Split ``traces`` in ``columns`` columns, in order, the first ones one longer where they
    do not divide evenly (as matplotlib's legend does)."""
    rows, extra = divmod(len(traces), columns)
    found, start = [], 0
    for column in range(columns):
        end = start + rows + (column < extra)
        found.append(traces[start:end])
        start = end
    return found


def layout(traces, width):
    """Return the columns of ``traces``' entries: up to 4, fewer where their labels would not
    fit in ``width`` pixels."""
    for columns in range(min(4, len(traces)), 1, -1):
        cells = _columns(traces, columns)
        if sum(map(_width, cells)) <= width - 20:
            return cells
    return [traces]


def place(canvas_figure, traces, width, height):
    """Add the legend of ``traces`` (the figure JSON's, drawn in that order) to the bottom of
    ``canvas_figure``, ``width`` x ``height`` pixels, as figure artists."""
    if not traces:
        return
    cells = layout(traces, width)
    rows = len(cells[0])
    widths = [_width(cell) for cell in cells]
    x = max(10.0, (width - sum(widths) + SPACING) / 2)  # centred; no spacing after the last
    for cell, cell_width in zip(cells, widths):
        for row, trace in enumerate(cell):
            y = ROW * (rows - row)  # px above the figure's bottom edge
            for artist in _handle(trace, x, y):
                _add(canvas_figure, artist, width, height)
            label = _text(x + HANDLE + GAP, y, trace["name"])
            _add(canvas_figure, label, width, height)
        x += cell_width


def _add(canvas_figure, artist, width, height):
    from matplotlib.transforms import Affine2D

    # Pixels of a 100-dpi image to the figure's fraction: the same place in an SVG (72 dpi).
    artist.set_transform(Affine2D().scale(1 / width, 1 / height) + canvas_figure.transFigure)
    canvas_figure.add_artist(artist)


def _text(x, y, name):
    from matplotlib.text import Text

    return Text(x, y, name, fontsize=FONT_SIZE, va="center", ha="left")


def _handle(trace, x, y):
    """Return the artists drawing ``trace``'s sample at ``(x, y)`` (its left, centre)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    marker = trace.get("marker", {})
    colour = marker.get("color") or trace.get("line", {}).get("color")
    if trace["type"] == "bar":
        return [Rectangle((x, y - 4), HANDLE, 8, facecolor=colour, edgecolor="none")]
    symbol = marker.get("symbol", "circle")
    shape = SYMBOLS.get(symbol.removesuffix("-open"), "o")
    mode = trace.get("mode", "lines+markers")
    if "lines" in mode:
        line = trace.get("line", {})
        return [
            Line2D(
                [x, x + HANDLE / 2, x + HANDLE], [y] * 3, color=line.get("color", colour),
                linewidth=line.get("width", 1.5),
                marker=shape if "markers" in mode else None, markevery=[1],
                markersize=marker.get("size", 5) * 0.6,
            )
        ]  # fmt: skip
    hollow = symbol.endswith("-open")
    return [
        Line2D(
            [x + HANDLE / 2], [y], linestyle="none", marker=shape,
            markersize=marker.get("size", 8) * 0.8, markeredgewidth=1.5,
            markerfacecolor="none" if hollow else colour, markeredgecolor=colour,
        )
    ]  # fmt: skip
