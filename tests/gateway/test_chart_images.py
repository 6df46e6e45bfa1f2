"""Chart images drawn in-process: axes reused from one drawing to the next change nothing."""

import xml.etree.ElementTree as ET

import pytest

from unified_api_server.gateway import chart_images, chart_legend, figures

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [f"2026-03-{day:02d}T12:00:00+00:00" for day in range(1, 21)]


def _rows(count):
    directions = ("worse", "better", "unchanged", "no verdict")
    return [
        {"label": f"cpu · metric {i}", "value": (-1) ** i * (i + 1.5), "text": "",
         "direction": directions[i % 4]}
        for i in range(count)
    ]  # fmt: skip


def _charts():
    """One figure of each kind the charts draw: dates (with and without a fixed y range),
    horizontal and vertical bars, and a note with no data."""
    history = {
        "series": {"hardware": "cpu", "batch_size": 1, "precision": "fp32"},
        "points": [
            {"run_id": f"r{i}", "started_at": at, "value": 100.0 + i % 3 + 40 * (i == 12),
             "outlier": i == 12}
            for i, at in enumerate(DAYS)
        ],
        "judged": [{"run_id": "r12", "started_at": DAYS[12], "value": 140.0,
                    "verdict": "regression"}],
    }  # fmt: skip
    passed = [{"started_at": at, "pass_rate": 0.5 + i / 50, "passed": 1, "failed": 1, "error": 0}
              for i, at in enumerate(DAYS)]  # fmt: skip
    return {
        "history": figures.history_figure("m: latency", "latency (ms)", [history])[0],
        "pass rate": figures.pass_rate_figure("m: pass rate", {"cpu · basic": passed}, "day"),
        "compare": figures.bars("m: a → b", "change (%)", _rows(12)),
        "latest": figures.bars("m: latest", "latency (ms)", _rows(5), horizontal=False),
        "note": figures.empty("m: latency", "no benchmark runs of 'm' match"),
    }


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_a_chart_drawn_on_reused_axes_is_the_chart_drawn_afresh(fmt):
    charts = _charts()
    fresh = {}
    for name, figure in charts.items():
        chart_images._templates.clear()  # new axes for this one drawing
        fresh[name] = chart_images.render(figure, fmt, 700, 400)
    # Each kind after every other: a range, inverted axis, ticks or note must not linger.
    order = ["compare", "history", "note", "latest", "pass rate", "history", "compare",
             "note", "pass rate", "latest", "compare", "history"]  # fmt: skip
    for name in order:
        assert chart_images.render(charts[name], fmt, 700, 400) == fresh[name], name


def test_reused_axes_draw_only_the_latest_charts_traces():
    charts = _charts()
    for name in ("compare", "latest", "history"):
        chart_images.render(charts[name], "svg", 700, 400)
    root = ET.fromstring(chart_images.render(charts["latest"], "svg", 700, 400))
    groups = [g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("trace-")]
    bars = [path for group in groups for path in group.iter(f"{SVG}path")]
    assert len(groups) == 4 and len(bars) == 5  # the latest chart's bars, not the compare's
    texts = [" ".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]
    assert "m: latest" in texts and "m: a → b" not in texts and "regressions" not in texts


def test_the_legend_names_every_trace_once_in_columns_that_fit():
    charts = _charts()
    figure = charts["history"]
    root = ET.fromstring(chart_images.render(figure, "svg", 700, 400))
    texts = [" ".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["cpu · bs 1 · fp32", "regressions", "outliers (|z| over the threshold)"]
    assert all(texts.count(name) == 1 for name in names), texts
    eight = [{"name": f"series {i}", "type": "scatter", "mode": "lines"} for i in range(8)]
    wide, narrow = chart_legend.layout(eight, 900), chart_legend.layout(eight, 250)
    assert [len(column) for column in wide] == [2, 2, 2, 2]  # filled column by column
    assert [t["name"] for t in wide[1]] == ["series 2", "series 3"]
    assert len(narrow) < 4 and sum(map(len, narrow)) == 8
    assert [len(c) for c in chart_legend.layout(eight[:5], 900)] == [2, 1, 1, 1]
