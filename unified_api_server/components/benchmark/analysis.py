"""Judging every stored run against its series' history, in one set-based statement a write.

Each metric of a run (a headline column, or a named metric) is a point of its series
(:mod:`.series`). Its **window** is the previous ``window`` points of that series, in
``started_at`` order (ties by run id), none before the latest run marked as the start of a new
distribution for that metric (or for every metric) at or before it. Against the window:

- ``baseline`` is the window's mean (the mean, not the median: the z-score is taken against
  the same mean, so the two figures agree; ``min_points`` keeps a short window from judging);
- ``change`` is ``(value - baseline) / |baseline|`` (NULL when the baseline is 0);
- ``z`` is ``(value - baseline) / stddev`` (sample standard deviation; NULL when the window is
  perfectly steady, which then counts as crossing the z threshold for any change).

The verdict is ``no_baseline`` with fewer than ``min_points`` points; ``regression`` or
``improvement`` (by direction: :data:`.series.HEADLINE`, or the named metric's own
``lower_is_better``) only when both ``|change|`` is over ``percent`` and ``|z|`` over ``z``;
``ok`` otherwise, and always for a metric whose direction is unknown or whose change is NULL.
(Compare judges a pair by percent alone: it has no window; see :mod:`.compare`.)

Runs are judged when stored (a create, an import, a bulk load, a job's figures), inside the
same transaction, so a stored run always has its verdicts. A later mark, threshold or
back-filled older run leaves stored verdicts as they were; a patch of a run's figures judges
those figures again.
"""

from unified_api_server.components.benchmark.series import CONFIGURATION, HEADLINE, METRICS_TABLE

RUNS = "benchmark_runs"
VERDICTS = "benchmark_verdicts"
THRESHOLDS = "benchmark_thresholds"
MARKS = "benchmark_distribution_changes"
# Used where no threshold selector matches a series (PUT a selector with no parts to change).
DEFAULTS = {"percent": 10.0, "z": 3.0, "window": 20, "min_points": 5}
VERDICTS_NAMED = ("regression", "improvement", "ok", "no_baseline")
SELECTOR = (*CONFIGURATION, "metric")
MAX_WINDOW = 1000  # the largest window a threshold may set: history read before a write's runs
# Where two selectors name as many parts, the part that decides (metric first).
_PRIORITY = {"metric": 16, "model_name": 8, "hardware": 4, "batch_size": 2, "precision": 1}


def selector_rank(named):
    """Return how specific a selector naming the parts ``named`` is: the one naming the most
    parts wins, and among as many, the metric, then model, hardware, batch size, precision."""
    return sum(33 + _PRIORITY[name] for name in named)


_CONFIG = ", ".join(CONFIGURATION)


def _same(a, b):
    """Return the SQL condition: aliases ``a`` and ``b`` have the same configuration."""
    return " AND ".join(f"{a}.{n} IS NOT DISTINCT FROM {b}.{n}" for n in CONFIGURATION)


_DIRECTIONS = ", ".join(f"('{m}', {str(low).lower()})" for m, low in HEADLINE.items())


def _headline_points(metrics):
    columns = ", ".join(metrics)
    return (
        f"SELECT run_id, {_CONFIG}, started_at, metric, value, d.lower_is_better FROM "
        f"(UNPIVOT (SELECT run_id, {_CONFIG}, started_at, {columns} FROM runs) ON {columns} "
        f"INTO NAME metric VALUE value) u JOIN (VALUES {_DIRECTIONS}) d(metric, lower_is_better) "
        "USING (metric)"
    )


_NAMED_POINTS = (
    f"SELECT m.run_id, {', '.join(f'r.{n}' for n in CONFIGURATION)}, r.started_at, "
    f"m.name AS metric, m.value, m.lower_is_better FROM {METRICS_TABLE} m "
    "JOIN runs r USING (run_id) WHERE m.name IN "
    f"(SELECT name FROM {METRICS_TABLE} WHERE run_id IN (SELECT id FROM written))"
)


def _limits():
    """The thresholds of each judged series: its most specific selector, else the defaults."""
    matches = " AND ".join(f"(t.{n} IS NULL OR t.{n} = s.{n})" for n in SELECTOR)
    rank = " + ".join(f"(t.{n} IS NOT NULL)::INT * {33 + w}" for n, w in _PRIORITY.items())
    return (
        f"SELECT s.*, coalesce(t.percent, {DEFAULTS['percent']}) AS percent, "
        f"coalesce(t.z, {DEFAULTS['z']}) AS z_limit, "
        f"coalesce(t.window_size, {DEFAULTS['window']}) AS window_size, "
        f"coalesce(t.min_points, {DEFAULTS['min_points']}) AS min_points "
        f"FROM (SELECT DISTINCT {_CONFIG}, metric FROM points WHERE judged) s "
        f"LEFT JOIN {THRESHOLDS} t ON {matches} "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(f's.{n}' for n in SELECTOR)} "
        f"ORDER BY {rank} DESC NULLS LAST) = 1"
    )


_VERDICT = """CASE
    WHEN window_n < min_points OR window_n = 0 THEN 'no_baseline'
    WHEN lower_is_better IS NULL OR change IS NULL THEN 'ok'
    WHEN abs(change) * 100 > percent AND coalesce(abs(z) > z_limit, value <> baseline)
        THEN CASE WHEN (change > 0) = lower_is_better THEN 'regression' ELSE 'improvement' END
    ELSE 'ok' END"""


def _segment(marked):
    """The SQL numbering each point's distribution: 0 for all while no run is marked (the
    running count costs as much as the window itself)."""
    if not marked:
        return "0"
    return (
        f"sum(p.starts::INT) OVER (PARTITION BY {', '.join(f'p.{n}' for n in SELECTOR)} "
        "ORDER BY p.started_at, p.run_id ROWS UNBOUNDED PRECEDING)"
    )


def judge_sql(ids_sql, metrics, named, marked=True):
    """Return the INSERT judging the written runs' ``metrics`` (and named metrics if ``named``);
    ``marked`` False: no run is marked as a distribution change."""
    parts = [_headline_points(metrics)] if metrics else []
    parts += [_NAMED_POINTS] if named else []
    series = f"PARTITION BY {_CONFIG}, metric"
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
        FROM ({" UNION ALL ".join(parts)}) p),
    limits AS ({_limits()}),
    segments AS (SELECT p.*, l.percent, l.z_limit, l.window_size, l.min_points,
        {_segment(marked)} AS segment
        FROM points p JOIN limits l ON {_same("p", "l")} AND l.metric = p.metric),
    windows AS (SELECT *, count(value) OVER w AS window_n, avg(value) OVER w AS baseline,
        stddev_samp(value) OVER w AS spread FROM segments
        WINDOW w AS ({series}, segment ORDER BY started_at, run_id
            ROWS BETWEEN window_size PRECEDING AND 1 PRECEDING)),
    judged AS (SELECT *, CASE WHEN baseline <> 0 THEN (value - baseline) / abs(baseline) END
            AS change,
        CASE WHEN spread > 0 THEN (value - baseline) / spread END AS z
        FROM windows WHERE judged)
    SELECT run_id, metric, {_CONFIG}, started_at, value, baseline, change, z, window_n,
        {_VERDICT}, lower_is_better FROM judged"""


def after_write(cursor, written):
    """Judge what a write stored (the component's ``after_write``), in its transaction."""
    if written.key not in (None, "metrics"):
        return
    metrics = list(HEADLINE) if written.key is None else []
    named = written.key == "metrics" or written.columns is None
    if written.columns is not None:  # a patch: its figures again, if it changed any
        metrics = [m for m in metrics if m in written.columns]
        if not metrics:
            return
        cursor.execute(
            f"DELETE FROM {VERDICTS} WHERE run_id IN ({written.ids_sql}) "
            f"AND metric IN ({', '.join('?' * len(metrics))})",
            [*written.params, *metrics],
        )
    if written.key == "metrics":  # the run's named metrics are judged again, all of them
        headline = ", ".join("?" * len(HEADLINE))
        cursor.execute(
            f"DELETE FROM {VERDICTS} WHERE run_id IN ({written.ids_sql}) "
            f"AND metric NOT IN ({headline})",
            [*written.params, *HEADLINE],
        )
    marked = cursor.execute(f"SELECT count(*) > 0 FROM {MARKS}").fetchone()[0]
    cursor.execute(judge_sql(written.ids_sql, metrics, named, marked), list(written.params))


def detail(cursor, run_id):
    """Return a run's ``analysis``: ``{metric: {value, baseline, change, z, verdict, ...}}``."""
    rows = cursor.execute(
        f"SELECT metric, value, baseline, change, z, verdict, window_n FROM {VERDICTS} "
        "WHERE run_id = ? ORDER BY metric",
        [run_id],
    ).fetchall()
    names = ("value", "baseline", "change", "z", "verdict", "window_n")
    return {"analysis": {row[0]: dict(zip(names, row[1:])) for row in rows}}


def has_verdict(verdict):
    """Return the SQL condition: the run (alias ``t``) has a metric judged ``verdict``."""
    return (
        f"EXISTS (SELECT 1 FROM {VERDICTS} v WHERE v.run_id = t.run_id AND v.verdict = '{verdict}')"
    )
