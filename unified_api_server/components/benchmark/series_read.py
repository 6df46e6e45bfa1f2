"""One or several series' history answers: points, thresholds, samples and verdicts.

``/history`` (one configuration) and ``/histories`` (several of one model) answer alike: one
body per series, read together (:func:`.history.histories`: one statement for every series'
points, one for their verdicts), with each series' own window and z threshold.
"""

from unified_api_server.components.benchmark import history as series_history
from unified_api_server.components.benchmark.series import CONFIGURATION
from unified_api_server.components.benchmark.series_limits import Limits, distribution_starts_of


def series_bodies(cursor, model_name, metric, configurations, *, include, window, **read):
    """Return the history body of each configuration (a dict of its parts) of ``model_name``
    for ``metric``: ``window`` (None: each series' threshold's), ``include`` (``samples``,
    ``verdicts``) and ``read`` (``points``, ``since``, ``until``, ``judged``: the most
    regressions and improvements listed; ``fields``: a point's fields kept, None: all)."""
    lower_is_better, unit = series_history.metric_facts(cursor, metric)
    limits = Limits(cursor)
    starts = distribution_starts_of(cursor, model_name, metric)
    chosen = []
    for parts in configurations:
        configuration = {**parts, "model_name": model_name}
        found = limits.of(configuration, metric)
        place = tuple(configuration[name] for name in series_history.PARTS)
        chosen.append(
            {
                **configuration,
                "window": window or int(found["window"]),
                "z": found["z"],
                "starts": starts.get(place, []),
            }
        )
    bounds = {"since": read.get("since"), "until": read.get("until")}
    answers = series_history.histories(cursor, metric, chosen, points=read["points"], **bounds)
    shown = [points for points, _ in answers]
    fields = read.get("fields")
    if fields is not None:
        include = {name for name in include if name == "verdicts" or name in fields}
    if "samples" in include:
        stored = series_history.samples(cursor, [p["run_id"] for ps in shown for p in ps])
        for point in (p for ps in shown for p in ps):
            point["samples"] = stored.get(point["run_id"])
    judged = None
    if "verdicts" in include and chosen:
        # Each shown point's verdict only where it is returned: a chart marks judged ones.
        each = shown if fields is None or "verdict" in fields else [[] for _ in shown]
        judged = series_history.verdicts(
            cursor, metric, chosen, each, limit=read["judged"], **bounds
        )
    if fields is not None:
        shown[:] = [[{k: p[k] for k in fields if k in p} for p in ps] for ps in shown]
    bodies = []
    for index, (series, points, (_, count)) in enumerate(zip(chosen, shown, answers)):
        facts = {"metric": metric, "lower_is_better": lower_is_better, "unit": unit}
        body = {
            "series": {**{name: series[name] for name in CONFIGURATION}, **facts},
            "window": series["window"],
            "z_threshold": series["z"],
            "count": count,
            "downsampled": count > len(points),
            "points": points,
        }
        if judged is not None:
            body["judged"] = judged[index]
        bodies.append(body)
    return bodies
