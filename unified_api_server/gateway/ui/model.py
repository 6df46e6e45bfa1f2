"""One model across the components: test health, benchmark trends with regressions, generator tasks.

The page's text (figures, tables, newly failing and flaky tests, the configurations and their latest
verdicts) is rendered on the server in one round of calls; the charts are drawn after, from
``/api/db/charts/...``, so the first paint never waits for a figure.
"""

from collections import defaultdict

from unified_api_server.gateway import sessions
from unified_api_server.gateway.ui import gather
from unified_api_server.gateway.ui.site import bp, render

RECENT = 10
TREND_METRICS = (
    ("latency_ms_mean", "Latency (ms, mean)"),
    ("throughput", "Throughput (items/s)"),
    ("memory_mb", "Memory (MB)"),
)
CONFIG_KEYS = ("hardware", "precision", "batch_size")


def _calls(model_name, shown):
    """Return the page's calls for the components the identity may read."""
    names = {c.name for c in shown}
    calls = gather.alerts_calls(shown, model_name=model_name, state="active,acknowledged")
    for c in shown:
        calls[f"{c.name}.stats"] = (
            c.name,
            gather.db(c.name, "models/stats", model_name=model_name),
        )
        calls[f"{c.name}.recent"] = (
            c.name,
            gather.db(c.name, c.entities, model_name=model_name, limit=RECENT),
        )
    if "test" in names:
        calls["test.flaky"] = ("test", gather.db("test", "flaky", model_name=model_name))
    if "benchmark" in names:
        calls["benchmark.configs"] = (
            "benchmark",
            gather.db("benchmark", "stats", model_name=model_name),
        )
        calls["benchmark.verdicts"] = (
            "benchmark",
            gather.db("benchmark", "verdicts", model_name=model_name),
        )
    return calls


@bp.get("/model/<path:model_name>")
@sessions.require("read")
def model(model_name):
    """Show one model: totals, pass rate, newly failing and flaky tests, trends and tasks."""
    shown, hidden = gather.readable(sessions.current())
    outcomes = gather.fetch(_calls(model_name, shown))
    names = {c.name for c in shown}
    sections = {}
    for c in shown:
        stats = next(iter(gather.body_of(outcomes[f"{c.name}.stats"], "models")), None)
        sections[c.name] = {
            "stats": stats,
            "recent": gather.body_of(outcomes[f"{c.name}.recent"], c.entities),
            "error": gather.problem(outcomes[f"{c.name}.stats"])
            or gather.problem(outcomes[f"{c.name}.recent"]),
        }
    alerts = gather.merged_alerts(outcomes, shown)
    newly_failing = [a for a in alerts if a.get("kind") == "test_failure"]
    flaky = gather.body_of(outcomes["test.flaky"], "tests") if "test" in names else []
    configs = _configurations(outcomes) if "benchmark" in names else []
    return render(
        "model.html.j2",
        hidden=hidden,
        title=model_name,
        model_name=model_name,
        sections=sections,
        alerts=alerts,
        newly_failing=newly_failing,
        flaky=flaky,
        configs=configs,
        metrics=TREND_METRICS,
        live_filter={"model": model_name},
    )


def _configurations(outcomes):
    """Return the model's benchmark configurations, most runs first, with their latest verdicts."""
    verdicts = defaultdict(dict)
    for row in gather.body_of(outcomes["benchmark.verdicts"], "verdicts"):
        verdicts[tuple(row.get(k) for k in CONFIG_KEYS)][row.get("metric")] = row
    configs = []
    for group in gather.body_of(outcomes["benchmark.configs"], "groups"):
        key = tuple(group.get(k) for k in CONFIG_KEYS)
        judged = verdicts.get(key, {})
        configs.append(
            {
                **group,
                "key": "|".join(str(part) for part in key),
                "verdicts": judged,
                "regressions": sorted(m for m, v in judged.items() if v["verdict"] == "regression"),
                "improvements": sorted(
                    m for m, v in judged.items() if v["verdict"] == "improvement"
                ),
            }
        )
    configs.sort(key=lambda g: (-(g.get("total_runs") or 0), g["key"]))
    return configs
