"""Compare as it was answered before the comparison moved into one SQL statement: each side's
latest runs read into Python objects and paired there. Kept to hold the statement to the same
answers (``test_compare_equality.py``); not used by the service."""

from unified_api_server.components.benchmark.series import (
    CONFIGURATION,
    HEADLINE,
    METRICS_TABLE,
    verdict,
)
from unified_api_server.components.benchmark.series_limits import Limits

RUNS = "benchmark_runs"
VERDICTS = ("regression", "improvement", "ok")
_MISSING = (None, None)
_COLUMNS = ("run_id", *CONFIGURATION, *HEADLINE)


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
        "rule": "percent",
        "pairs": pairs,
        "only_in_baseline": unpaired(before, after),
        "only_in_contender": unpaired(after, before),
        "counts": {"pairs": len(pairs), **counts},
    }


def _sort_key(config):
    return tuple((value is None, str(value)) for value in config)
