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

The statement numbers what it judges (the written runs' configurations, the metrics) and places
each run once in its configuration (by start, then id), so the windows sort and partition on
integers; ``tests/benchmark/judge_reference.py`` states the same semantics plainly, and the tests
hold the two to the same verdicts.
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


# The statement numbers what it judges so that the windows sort and partition on integers:
# ``config`` (a configuration of the written runs, numbered by the statement) and ``metric_no``
# (0.. the headline columns, then the named metrics), ``series`` the two in one BIGINT.


def _metric_names(metrics, named):
    """The metrics judged, numbered, with the headline columns' direction."""
    headline = ", ".join(f"({i}, '{m}', {str(HEADLINE[m]).lower()})" for i, m in enumerate(metrics))
    parts = [f"SELECT * FROM (VALUES {headline}) h(metric_no, metric, lower_is_better)"]
    parts = parts if metrics else []
    if named:
        parts.append(
            f"SELECT {len(metrics)} + row_number() OVER (ORDER BY name) AS metric_no, "
            "name AS metric, NULL::BOOLEAN AS lower_is_better "
            f"FROM (SELECT DISTINCT name FROM {METRICS_TABLE} "
            "WHERE run_id IN (SELECT id FROM written))"
        )
    return " UNION ALL ".join(parts)


def _reach(metrics):
    """The runs of the written runs' configurations a window may reach: from the earliest
    written on, and up to MAX_WINDOW before it."""
    columns = "".join(f", a.{m}" for m in metrics)
    select = (
        f"SELECT c.config, a.run_id, a.started_at, a.run_id IN (SELECT id FROM written) "
        f"AS judged{columns} FROM {RUNS} a JOIN configs c ON {_same('a', 'c')}"
    )
    runs = (
        f"{select} WHERE a.started_at >= c.first UNION ALL {select} WHERE a.started_at < c.first "
        "QUALIFY row_number() OVER (PARTITION BY c.config ORDER BY a.started_at DESC, "
        f"a.run_id DESC) <= {MAX_WINDOW}"
    )
    # ``place``: the run's place in its configuration, which orders every series of it
    place = "row_number() OVER (PARTITION BY config ORDER BY started_at, run_id) AS place"
    return f"SELECT *, {place} FROM ({runs})"


def _points(metrics, named):
    """Every point of the judged series within reach: headline columns, then named metrics."""
    parts = []
    if metrics:
        numbers = ", ".join(str(i) for i in range(len(metrics)))
        parts.append(
            "SELECT config, run_id, started_at, place, judged, metric_no, value, "
            "NULL::BOOLEAN AS lower "
            f"FROM (SELECT *, unnest([{numbers}]) AS metric_no, unnest([{', '.join(metrics)}]) "
            "AS value FROM reach) WHERE value IS NOT NULL"
        )
    if named:
        parts.append(
            "SELECT r.config, r.run_id, r.started_at, r.place, r.judged, n.metric_no, m.value, "
            f"m.lower_is_better AS lower FROM {METRICS_TABLE} m "
            "JOIN metric_names n ON m.name = n.metric JOIN reach r ON r.run_id = m.run_id"
        )
    keyed = "config::BIGINT * (SELECT count(*) FROM metric_names) + metric_no AS series"
    return f"SELECT *, {keyed} FROM ({' UNION ALL '.join(parts)})"


def _limits():
    """The thresholds of each judged series: its most specific selector, else the defaults."""
    matches = " AND ".join(f"(t.{n} IS NULL OR t.{n} = s.{n})" for n in SELECTOR)
    rank = " + ".join(f"(t.{n} IS NOT NULL)::INT * {33 + w}" for n, w in _PRIORITY.items())
    return (
        f"SELECT s.series, coalesce(t.percent, {DEFAULTS['percent']}) AS percent, "
        f"coalesce(t.z, {DEFAULTS['z']}) AS z_limit, "
        f"coalesce(t.window_size, {DEFAULTS['window']}) AS window_size, "
        f"coalesce(t.min_points, {DEFAULTS['min_points']}) AS min_points "
        f"FROM (SELECT DISTINCT p.series, {', '.join(f'c.{n}' for n in CONFIGURATION)}, "
        "n.metric FROM points p JOIN configs c USING (config) JOIN metric_names n "
        f"USING (metric_no) WHERE p.judged) s LEFT JOIN {THRESHOLDS} t ON {matches} "
        f"QUALIFY row_number() OVER (PARTITION BY s.series ORDER BY {rank} DESC NULLS LAST) = 1"
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
    starts = (
        f"(p.run_id IN (SELECT run_id FROM {MARKS} WHERE metric IS NULL) OR EXISTS (SELECT 1 "
        f"FROM {MARKS} k JOIN metric_names n ON k.metric = n.metric "
        "WHERE k.run_id = p.run_id AND n.metric_no = p.metric_no))"
    )
    return (
        f"sum({starts}::INT) OVER (PARTITION BY p.series ORDER BY p.place ROWS UNBOUNDED PRECEDING)"
    )


def judge_sql(ids_sql, metrics, named, marked=True):
    """Return the INSERT judging the written runs' ``metrics`` (and named metrics if ``named``);
    ``marked`` False: no run is marked as a distribution change."""
    segment = ", segment" if marked else ""
    return f"""INSERT INTO {VERDICTS} (run_id, metric, {_CONFIG}, started_at, value, baseline,
        change, z, window_n, verdict, lower_is_better)
    WITH written AS MATERIALIZED (SELECT DISTINCT * FROM ({ids_sql}) w(id)),
    configs AS MATERIALIZED (SELECT *, row_number() OVER () AS config FROM (SELECT {_CONFIG},
        min(started_at) AS first FROM {RUNS} WHERE run_id IN (SELECT id FROM written)
        GROUP BY ALL)),
    metric_names AS MATERIALIZED ({_metric_names(metrics, named)}),
    reach AS ({_reach(metrics)}),
    points AS MATERIALIZED ({_points(metrics, named)}),
    limits AS ({_limits()}),
    segments AS (SELECT p.*, l.percent, l.z_limit, l.window_size, l.min_points,
        {_segment(marked)} AS segment
        FROM points p JOIN limits l USING (series)),
    windows AS (SELECT *, count(value) OVER w AS window_n, avg(value) OVER w AS baseline,
        stddev_samp(value) OVER w AS spread FROM segments
        WINDOW w AS (PARTITION BY series{segment} ORDER BY place
            ROWS BETWEEN window_size PRECEDING AND 1 PRECEDING)),
    judged AS (SELECT w.*, n.metric, coalesce(n.lower_is_better, w.lower) AS lower_is_better,
        CASE WHEN baseline <> 0 THEN (value - baseline) / abs(baseline) END AS change,
        CASE WHEN spread > 0 THEN (value - baseline) / spread END AS z
        FROM windows w JOIN metric_names n USING (metric_no) WHERE judged)
    SELECT j.run_id, j.metric, {", ".join(f"c.{n}" for n in CONFIGURATION)}, j.started_at,
        j.value, j.baseline, j.change, j.z, j.window_n, {_VERDICT}, j.lower_is_better
    FROM judged j JOIN configs c USING (config)"""


def after_write(cursor, written, build=judge_sql):
    """Judge what a write stored (the component's ``after_write``), in its transaction;
    ``build`` makes the judging statement (another only to check one against the other)."""
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
    cursor.execute(build(written.ids_sql, metrics, named, marked), list(written.params))


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
