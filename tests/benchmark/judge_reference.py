"""The judging's documented semantics in their plainest SQL: the reference the fast statement
(``analysis.judge_sql``) is checked against (``test_judge_equality.py``, and
``scripts/bench_judge.py --check`` at the benchmark's size).

Windowed count, mean and standard deviation over each point's series, partitioned by the
configuration's parts, the metric and the distribution (a running count of marks), ordered by
start and run id, framed ``window_size PRECEDING AND 1 PRECEDING``; every point of the written
runs' configurations from the earliest written start on, and up to MAX_WINDOW runs before it.
This was the statement each write ran before the fast one (3.9x a bulk load's time).
"""

from unified_api_server.components.benchmark.analysis import (
    _PRIORITY,
    _VERDICT,
    DEFAULTS,
    MARKS,
    MAX_WINDOW,
    RUNS,
    SELECTOR,
    THRESHOLDS,
    VERDICTS,
    _same,
)
from unified_api_server.components.benchmark.series import CONFIGURATION, HEADLINE, METRICS_TABLE

_CONFIG = ", ".join(CONFIGURATION)
_SERIES = ", ".join(f"p.{n}" for n in SELECTOR)


def _points(metrics, named):
    directions = ", ".join(f"('{m}', {str(low).lower()})" for m, low in HEADLINE.items())
    columns = ", ".join(metrics)
    parts = [
        f"SELECT run_id, {_CONFIG}, started_at, metric, value, d.lower_is_better FROM "
        f"(UNPIVOT (SELECT run_id, {_CONFIG}, started_at, {columns} FROM runs) ON {columns} "
        f"INTO NAME metric VALUE value) u JOIN (VALUES {directions}) d(metric, lower_is_better) "
        "USING (metric)"
    ]
    parts = parts if metrics else []
    if named:
        parts.append(
            f"SELECT m.run_id, {', '.join(f'r.{n}' for n in CONFIGURATION)}, r.started_at, "
            f"m.name AS metric, m.value, m.lower_is_better FROM {METRICS_TABLE} m "
            "JOIN runs r USING (run_id) WHERE m.name IN "
            f"(SELECT name FROM {METRICS_TABLE} WHERE run_id IN (SELECT id FROM written))"
        )
    return " UNION ALL ".join(parts)


def _limits():
    matches = " AND ".join(f"(t.{n} IS NULL OR t.{n} = s.{n})" for n in SELECTOR)
    rank = " + ".join(f"(t.{n} IS NOT NULL)::INT * {33 + w}" for n, w in _PRIORITY.items())
    figures = ("percent", "z", "window_size", "min_points")
    defaults = (DEFAULTS["percent"], DEFAULTS["z"], DEFAULTS["window"], DEFAULTS["min_points"])
    names = ("percent", "z_limit", "window_size", "min_points")
    picked = ", ".join(f"coalesce(t.{f}, {d}) AS {n}" for f, d, n in zip(figures, defaults, names))
    return (
        f"SELECT s.*, {picked} FROM (SELECT DISTINCT {_CONFIG}, metric FROM points WHERE judged) s "
        f"LEFT JOIN {THRESHOLDS} t ON {matches} QUALIFY row_number() OVER (PARTITION BY "
        f"{', '.join(f's.{n}' for n in SELECTOR)} ORDER BY {rank} DESC NULLS LAST) = 1"
    )


def reference_sql(ids_sql, metrics, named, marked=True):
    """Return the reference INSERT judging the written runs (the arguments of ``judge_sql``;
    ``marked`` is not needed: the running count of marks is always taken)."""
    return f"""INSERT INTO {VERDICTS} (run_id, metric, {_CONFIG}, started_at, value, baseline,
        change, z, window_n, verdict, lower_is_better)
    WITH written AS (SELECT DISTINCT * FROM ({ids_sql}) w(id)),
    configs AS (SELECT {_CONFIG}, min(started_at) AS first FROM {RUNS}
        WHERE run_id IN (SELECT id FROM written) GROUP BY ALL),
    runs AS (SELECT a.* FROM {RUNS} a JOIN configs b ON {_same("a", "b")}
        QUALIFY a.started_at >= b.first OR row_number() OVER (PARTITION BY
            {", ".join(f"a.{n}" for n in CONFIGURATION)}, a.started_at >= b.first
            ORDER BY a.started_at DESC, a.run_id DESC) <= {MAX_WINDOW}),
    points AS (SELECT p.*, p.run_id IN (SELECT id FROM written) AS judged,
        EXISTS (SELECT 1 FROM {MARKS} k WHERE k.run_id = p.run_id
                AND (k.metric IS NULL OR k.metric = p.metric)) AS starts
        FROM ({_points(metrics, named)}) p),
    limits AS ({_limits()}),
    segments AS (SELECT p.*, l.percent, l.z_limit, l.window_size, l.min_points,
        sum(p.starts::INT) OVER (PARTITION BY {_SERIES} ORDER BY p.started_at, p.run_id
            ROWS UNBOUNDED PRECEDING) AS segment
        FROM points p JOIN limits l ON {_same("p", "l")} AND l.metric = p.metric),
    windows AS (SELECT *, count(value) OVER w AS window_n, avg(value) OVER w AS baseline,
        stddev_samp(value) OVER w AS spread FROM segments
        WINDOW w AS (PARTITION BY {_CONFIG}, metric, segment ORDER BY started_at, run_id
            ROWS BETWEEN window_size PRECEDING AND 1 PRECEDING)),
    judged AS (SELECT *, CASE WHEN baseline <> 0 THEN (value - baseline) / abs(baseline) END
            AS change,
        CASE WHEN spread > 0 THEN (value - baseline) / spread END AS z
        FROM windows WHERE judged)
    SELECT run_id, metric, {_CONFIG}, started_at, value, baseline, change, z, window_n,
        {_VERDICT}, lower_is_better FROM judged"""


# The verdicts of two databases (attached as ``a`` and ``b``) that differ: a row on one side
# only, or any column unequal (the window's figures within 1e-9, relative to at least 1).
_EXACT = (*CONFIGURATION, "started_at", "value", "window_n", "verdict", "lower_is_better")
_CLOSE = ("baseline", "change", "z")
DIFFERENCES = (
    f"SELECT * FROM a.{VERDICTS} x FULL JOIN b.{VERDICTS} y USING (run_id, metric) "
    "WHERE x.run_id IS NULL OR y.run_id IS NULL OR "
    + " OR ".join(f"x.{n} IS DISTINCT FROM y.{n}" for n in _EXACT)
    + " OR "
    + " OR ".join(
        f"(x.{n} IS NULL) <> (y.{n} IS NULL) OR abs(x.{n} - y.{n}) > "
        f"1e-9 * greatest(abs(x.{n}), abs(y.{n}), 1)"
        for n in _CLOSE
    )
)
