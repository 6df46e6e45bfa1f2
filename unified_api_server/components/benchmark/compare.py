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

One statement does it all: both sides' latest runs, the pairs, each pair's metrics judged, the
unpaired and the counts, and it writes the pairs and the unpaired as JSON text the answer embeds
as it is (``orjson.Fragment``): two batches of 1,000 runs are 10,000 judged metrics, and making
a Python object of each cost as much as reading them.
"""

import orjson

from unified_api_server.components.benchmark.analysis import SELECTOR, THRESHOLDS, selector_rank
from unified_api_server.components.benchmark.series import CONFIGURATION, HEADLINE, METRICS_TABLE
from unified_api_server.components.benchmark.series_limits import DEFAULTS, Limits
from unified_api_server.core.errors import ApiError

RUNS = "benchmark_runs"
BATCHES = "benchmark_batch_runs"
VARIED = ("hardware", "precision")  # what the cross-configuration variant may vary
VERDICTS = ("regression", "improvement", "ok")
RULE = "percent"  # how a pair is judged (the judging at ingest: percent and z, see above)
_COLUMNS = ("run_id", *CONFIGURATION, *HEADLINE)
_NAMED = len(HEADLINE)  # a named metric's place: after the headline figures


def resolve(cursor, ident, name):
    """Return ``("run" | "batch", id)`` for a run id or a batch id; 404 naming ``name``."""
    if cursor.execute(f"SELECT 1 FROM {RUNS} WHERE run_id = ?", [ident]).fetchone():
        return "run", ident
    if cursor.execute(f"SELECT 1 FROM {BATCHES} WHERE batch_id = ?", [ident]).fetchone():
        return "batch", ident
    raise ApiError(404, f"{name}: no run or batch {ident!r}", {name: ident})


def side(kind, ident):
    """Return ``(where, params)``: the runs of one side, a run or a batch."""
    return f"{'run_id' if kind == 'run' else 'batch_id'} = ?", [ident]


def variant_sides(model_name, varied, values, extra):
    """Return both sides ``[(where, params)]`` of one model across ``varied`` (hardware or
    precision) at each of ``values``: its completed runs there, ``extra`` parts fixed."""
    where, params = f"model_name = ? AND status = 'completed' AND {varied} = ?", [model_name]
    for name, value in extra.items():
        where += f" AND {name} = ?"
        params.append(value)
    return [(where, [*params[:1], value, *params[1:]]) for value in values]


def _sort(alias, keys):
    """The order of configurations: each part's text, a missing part last (as Python's
    ``(value is None, str(value))``; text compares by code point in both)."""
    return ", ".join(f"{alias}.{k} IS NULL, CAST({alias}.{k} AS VARCHAR)" for k in keys)


def _object(alias, keys, *more):
    """The SQL of a JSON object of the ``keys`` parts of ``alias``, and ``more`` pairs."""
    parts = [f"'{k}', {alias}.{k}" for k in keys]
    return f"json_object({', '.join(parts + list(more))})"


def _threshold(thresholds):
    """The SQL of an entry's threshold in percent: the defaults' unless a stored threshold's
    selector matches (the most specific, ranked as the judging ranks them)."""
    if not thresholds:  # the common case: no threshold stored
        return "limits AS (SELECT NULL::INTEGER AS pair, NULL AS name, NULL AS percent LIMIT 0)"
    matches = " AND ".join(f"(t.{n} IS NULL OR t.{n} = e.{n})" for n in SELECTOR)
    rank = " + ".join(f"(t.{n} IS NOT NULL)::INT * {selector_rank([n])}" for n in SELECTOR)
    return (
        f"limits AS (SELECT e.pair, e.metric AS name, t.percent FROM (SELECT DISTINCT e.pair, "
        f"e.name AS metric, {', '.join(f'p.{n}' for n in CONFIGURATION)} FROM entries e "
        f"JOIN p USING (pair)) e JOIN {THRESHOLDS} t ON {matches} "
        f"QUALIFY row_number() OVER (PARTITION BY e.pair, e.metric ORDER BY {rank} DESC) = 1)"
    )


def _latest(name, where):
    partition = ", ".join(CONFIGURATION)
    return (
        f"{name} AS MATERIALIZED (SELECT {', '.join(_COLUMNS)} FROM {RUNS} WHERE {where} "
        f"QUALIFY row_number() OVER (PARTITION BY {partition} "
        "ORDER BY started_at DESC, run_id DESC) = 1)"
    )


def _entries():
    """Every pair's metrics, a row each: the headline figures, then the named metrics either
    run has (a named metric of a headline figure's name stands for it, as a later entry of a
    run's metrics replaces an earlier one)."""
    names = ", ".join(f"'{m}'" for m in HEADLINE)
    lows = ", ".join(str(low).lower() for low in HEADLINE.values())
    side = lambda alias: ", ".join(f"{alias}_{m}" for m in HEADLINE)  # noqa: E731
    return f"""h AS (SELECT pair, unnest([{names}]) AS name, unnest([{side("b")}]) AS before,
        unnest([{side("c")}]) AS after, unnest([{lows}]) AS low,
        unnest(range({_NAMED})) AS place FROM p),
    ids AS (SELECT pair, unnest([b_id, c_id]) AS run_id, unnest([FALSE, TRUE]) AS contender
        FROM p),
    n AS (SELECT pair, name, any_value(value) FILTER (NOT contender) AS before,
        any_value(value) FILTER (contender) AS after,
        any_value(lower_is_better) FILTER (NOT contender) AS before_low,
        any_value(lower_is_better) FILTER (contender) AS after_low,
        count(*) FILTER (NOT contender) > 0 AS in_before, count(*) FILTER (contender) > 0
        AS in_after FROM ids JOIN {METRICS_TABLE} USING (run_id) GROUP BY pair, name),
    entries AS (SELECT h.pair, h.name, h.place,
            CASE WHEN n.in_before THEN n.before ELSE h.before END AS before,
            CASE WHEN n.in_after THEN n.after ELSE h.after END AS after,
            CASE WHEN n.in_before THEN n.before_low ELSE h.low END AS before_low,
            CASE WHEN n.in_after THEN n.after_low ELSE h.low END AS after_low
        FROM h LEFT JOIN n USING (pair, name)
        UNION ALL SELECT pair, name, {_NAMED} + (NOT in_before)::INT, before, after,
            before_low, after_low FROM n WHERE name NOT IN ({names}))"""


_VERDICT = """CASE WHEN change IS NULL THEN NULL
    WHEN lower_is_better IS NULL OR abs(change) <= threshold / 100 THEN 'ok'
    WHEN (change > 0) = lower_is_better THEN 'regression' ELSE 'improvement' END"""


def _statement(keys, thresholds):
    """The SQL of a comparison: pairs on ``keys``; ``thresholds`` whether any is stored."""
    same = " AND ".join(f"b.{k} IS NOT DISTINCT FROM c.{k}" for k in keys)
    figures = ", ".join(f"b.{m} AS b_{m}, c.{m} AS c_{m}" for m in HEADLINE)
    entry = (
        "json_object('baseline', before, 'contender', after, 'change_percent', change * 100.0, "
        "'lower_is_better', lower_is_better, 'threshold_percent', threshold, 'verdict', verdict)"
    )
    counted = ", ".join(f"count(*) FILTER (verdict = '{v}') AS {v}" for v in VERDICTS)
    summed = ", ".join(f"coalesce(sum({v}), 0)::BIGINT AS {v}" for v in VERDICTS)
    # Text joined, not json_object(): that would parse each pair's metrics again.
    pair = (
        f"""'{{"configuration":' || {_object("p", keys)} || ',"baseline_run_id":' || """
        """to_json(b_id) || ',"contender_run_id":' || to_json(c_id) || ',"metrics":' || """
        """coalesce(m.metrics, '{}') || '}'"""
    )

    def unpaired(one, other):
        listed = _object("u", keys, "'run_id', u.run_id")
        return (
            f"(SELECT coalesce('[' || string_agg({listed}, ',' "
            f"ORDER BY {_sort('u', keys)}) || ']', '[]') FROM {one} u ANTI JOIN {other} o ON "
            f"{' AND '.join(f'u.{k} IS NOT DISTINCT FROM o.{k}' for k in keys)})"
        )

    return f"""WITH {_latest("b", "{baseline}")}, {_latest("c", "{contender}")},
    p AS MATERIALIZED (SELECT row_number() OVER (ORDER BY {_sort("c", keys)}) AS pair,
        b.run_id AS b_id, c.run_id AS c_id, {", ".join(f"c.{n}" for n in CONFIGURATION)},
        {figures} FROM b JOIN c ON {same}),
    {_entries()},
    {_threshold(thresholds)},
    judged AS MATERIALIZED (SELECT *, {_VERDICT} AS verdict FROM (SELECT e.*,
            coalesce(e.after_low, e.before_low) AS lower_is_better,
            coalesce(l.percent, {DEFAULTS["percent"]}) AS threshold,
            CASE WHEN e.before <> 0 THEN (e.after - e.before) / abs(e.before) END AS change
        FROM entries e LEFT JOIN limits l USING (pair, name)
        WHERE e.before IS NOT NULL OR e.after IS NOT NULL)),
    m AS (SELECT pair, '{{' || string_agg(to_json(name) || ':' || {entry}, ','
        ORDER BY place, name) || '}}' AS metrics, {counted} FROM judged GROUP BY pair),
    answer AS (SELECT coalesce('[' || string_agg({pair}, ',' ORDER BY p.pair) || ']', '[]')
            AS pairs, count(*) AS count, {summed} FROM p LEFT JOIN m USING (pair))
    SELECT pairs, {unpaired("b", "c")}, {unpaired("c", "b")}, count,
        {", ".join(VERDICTS)}, (SELECT count(*) FROM b), (SELECT count(*) FROM c) FROM answer"""


def compare(cursor, baseline, contender, keys=CONFIGURATION):
    """Compare two sides (``(where, params)`` each: :func:`side`, :func:`variant_sides`),
    pairing their runs on ``keys``; return ``(the answer's comparison, the number of runs
    standing for each side)``. The pairs and the unpaired come as JSON text to embed."""
    sql = _statement(keys, bool(Limits(cursor).rows))
    sql = sql.replace("{baseline}", baseline[0], 1).replace("{contender}", contender[0], 1)
    row = cursor.execute(sql, [*baseline[1], *contender[1]]).fetchone()
    pairs, only_before, only_after, count, *verdicts, before, after = row
    return {
        "rule": RULE,
        "pairs": orjson.Fragment(pairs),
        "only_in_baseline": orjson.Fragment(only_before),
        "only_in_contender": orjson.Fragment(only_after),
        "counts": {"pairs": count, **dict(zip(VERDICTS, verdicts))},
    }, (before, after)
