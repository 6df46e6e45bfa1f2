"""The SQL and pairing of a comparison: two runs or batches, or one model across devices.

Each side's runs are paired by configuration (model, hardware, batch size, precision; across
devices or precisions, the configuration without the varied part). Where a side holds several
runs of one configuration, its latest (by ``started_at``) stands for it. Each pair is compared
metric by metric, the headline figures and every named metric either run has: the change in
percent of the baseline, and the verdict of :func:`.series.verdict` at the series' threshold.

That rule is deliberately not the judging's at ingest (:mod:`.analysis`): a stored run is a
regression or an improvement only when its change is over ``percent`` AND its z-score against
its window over ``z``; a pair has no window, so it is judged by its percent change alone, at the
same ``percent`` threshold, direction and selector. Compare can thus call a change in a noisy
series a regression that the judging at ingest called ``ok``. The answer names its rule.
"""

from unified_api_server.components.benchmark.series import (
    CONFIGURATION,
    HEADLINE,
    METRICS_TABLE,
    verdict,
)
from unified_api_server.components.benchmark.series_limits import Limits
from unified_api_server.core.errors import ApiError

RUNS = "benchmark_runs"
BATCHES = "benchmark_batch_runs"
VARIED = ("hardware", "precision")  # what the cross-configuration variant may vary
VERDICTS = ("regression", "improvement", "ok")
RULE = "percent"  # how a pair is judged (the judging at ingest: percent and z, see above)
_MISSING = (None, None)
_COLUMNS = ("run_id", *CONFIGURATION, *HEADLINE)


def resolve(cursor, ident, name):
    """Return ``("run" | "batch", id)`` for a run id or a batch id; 404 naming ``name``."""
    if cursor.execute(f"SELECT 1 FROM {RUNS} WHERE run_id = ?", [ident]).fetchone():
        return "run", ident
    if cursor.execute(f"SELECT 1 FROM {BATCHES} WHERE batch_id = ?", [ident]).fetchone():
        return "batch", ident
    raise ApiError(404, f"{name}: no run or batch {ident!r}", {name: ident})


def _runs(cursor, where, params):
    """Return the latest run of each configuration matching ``where``, with its named metrics."""
    partition = ", ".join(CONFIGURATION)
    rows = cursor.execute(
        f"""WITH latest AS (
            SELECT {", ".join(_COLUMNS)} FROM {RUNS} WHERE {where} QUALIFY row_number()
            OVER (PARTITION BY {partition} ORDER BY started_at DESC, run_id DESC) = 1)
        SELECT l.*, list(m.name ORDER BY m.name), list(m.value ORDER BY m.name),
            list(m.lower_is_better ORDER BY m.name)
        FROM latest l LEFT JOIN {METRICS_TABLE} m ON m.run_id = l.run_id GROUP BY ALL""",
        params,
    ).fetchall()
    runs = []
    width = len(_COLUMNS)
    for row in rows:
        run = dict(zip(_COLUMNS, row[:width]))
        metrics = {m: (run.pop(m), low) for m, low in HEADLINE.items()}
        names, values, lows = row[width:]
        metrics.update((n, (v, low)) for n, v, low in zip(names, values, lows) if n is not None)
        run["metrics"] = metrics
        runs.append(run)
    return runs


def side_runs(cursor, kind, ident):
    """Return the runs of one side (a run, or a batch's latest run per configuration)."""
    column = "run_id" if kind == "run" else "batch_id"
    return _runs(cursor, f"{column} = ?", [ident])


def variant_runs(cursor, model_name, varied, values, extra):
    """Return ``[baseline runs, contender runs]``: a model's latest completed run per
    configuration with ``varied`` (hardware or precision) at each of ``values``."""
    where = f"model_name = ? AND status = 'completed' AND {varied} IN (?, ?)"
    params = [model_name, *values]
    for name, value in extra.items():
        where += f" AND {name} = ?"
        params.append(value)
    runs = _runs(cursor, where, params)
    return [[run for run in runs if run[varied] == value] for value in values]


def _change(baseline, contender):
    if baseline is None or contender is None or baseline == 0:
        return None
    return (contender - baseline) / abs(baseline)


def _metrics(limits, configuration, baseline, contender):
    compared = {}
    before_all, after_all = baseline["metrics"], contender["metrics"]
    for name in dict.fromkeys([*before_all, *after_all]):
        before, before_low = before_all.get(name, _MISSING)
        after, after_low = after_all.get(name, _MISSING)
        if before is None and after is None:
            continue
        lower_is_better = after_low if after_low is not None else before_low
        threshold = limits.of(configuration, name)["percent"]
        change = _change(before, after)
        judged = None if change is None else verdict(change, lower_is_better, threshold / 100)
        compared[name] = {
            "baseline": before,
            "contender": after,
            "change_percent": None if change is None else change * 100.0,
            "lower_is_better": lower_is_better,
            "threshold_percent": threshold,
            "verdict": judged,
        }
    return compared


def _configuration(run, keys):
    return {name: run[name] for name in keys}


def pair(cursor, baseline, contender, keys=CONFIGURATION):
    """Pair two sides' runs on ``keys``; return the pairs, the unpaired and the counts."""
    limits = Limits(cursor)
    before = {tuple(run[k] for k in keys): run for run in baseline}
    after = {tuple(run[k] for k in keys): run for run in contender}
    pairs, counts = [], dict.fromkeys(VERDICTS, 0)
    for config in sorted(before.keys() & after.keys(), key=_sort_key):
        b, c = before[config], after[config]
        configuration = _configuration(c, CONFIGURATION)
        metrics = _metrics(limits, configuration, b, c)
        for entry in metrics.values():
            if entry["verdict"] is not None:
                counts[entry["verdict"]] += 1
        pairs.append(
            {
                "configuration": _configuration(c, keys),
                "baseline_run_id": b["run_id"],
                "contender_run_id": c["run_id"],
                "metrics": metrics,
            }
        )

    def unpaired(side, other):
        keys_only = sorted(side.keys() - other.keys(), key=_sort_key)
        return [{**_configuration(side[k], keys), "run_id": side[k]["run_id"]} for k in keys_only]

    return {
        "rule": RULE,
        "pairs": pairs,
        "only_in_baseline": unpaired(before, after),
        "only_in_contender": unpaired(after, before),
        "counts": {"pairs": len(pairs), **counts},
    }


def _sort_key(config):
    return tuple((value is None, str(value)) for value in config)
