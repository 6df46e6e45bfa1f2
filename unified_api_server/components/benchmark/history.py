"""The SQL of a series' history: its points with rolling statistics, downsampled, with samples.

Each point carries the mean and the sample standard deviation of the ``window`` points before
it (never reaching back across a run marked as the start of a new distribution), its z-score
against them, and whether ``|z|`` is over the threshold. The statistics are taken over the whole
series up to ``until``; ``since`` only chooses which points are shown, so the first shown point
is judged against the points before it. Downsampling cuts the shown points into ``points // 2``
buckets of consecutive points and keeps each bucket's lowest and highest point: at most
``points`` come back, in time order, and no spike is ever lost. The verdicts stored when each
run was judged (:mod:`.analysis`) can come along: each shown point's, and every regression and
improvement of the shown range, which downsampling never drops.
"""

from unified_api_server.components.benchmark.analysis import VERDICTS
from unified_api_server.components.benchmark.series import HEADLINE, METRICS_TABLE
from unified_api_server.components.benchmark.series_limits import distribution_starts
from unified_api_server.core.data.reads import rows_to_dicts
from unified_api_server.core.errors import ApiError

RUNS = "benchmark_runs"
SAMPLES = "benchmark_samples"
_ORDER = "ORDER BY started_at, row"


def metric_facts(cursor, metric):
    """Return ``(lower_is_better, unit)`` of a metric; 400 when no run has it."""
    if metric in HEADLINE:
        return HEADLINE[metric], "ms" if metric.startswith("latency") else None
    any_row = cursor.execute(
        f"SELECT unit FROM {METRICS_TABLE} WHERE name = ? LIMIT 1", [metric]
    ).fetchone()
    if any_row is None:
        raise ApiError(
            400,
            f"metric: unknown metric {metric!r}: not a headline figure and no run has it",
            {"metric": metric, "headline": list(HEADLINE)},
        )
    judged = cursor.execute(
        f"SELECT lower_is_better FROM {METRICS_TABLE} "
        "WHERE name = ? AND lower_is_better IS NOT NULL LIMIT 1",
        [metric],
    ).fetchone()
    return (judged[0] if judged else None), any_row[0]


def _series(key, until):
    """Return the SQL and parameters of the series' raw points up to ``until``."""
    match, params = key.match("r")
    if key.is_headline:  # a trusted name: HEADLINE's keys are the runs' columns
        sql = (
            f"SELECT r.rowid AS row, r.started_at, r.{key.metric} AS value FROM {RUNS} r "
            f"WHERE {match} AND r.{key.metric} IS NOT NULL"
        )
    else:
        sql = (
            f"SELECT r.rowid AS row, r.started_at, m.value FROM {RUNS} r JOIN {METRICS_TABLE} m "
            f"ON m.run_id = r.run_id AND m.name = ? WHERE {match}"
        )
        params.insert(0, key.metric)
    if until is not None:
        sql += " AND r.started_at < ?"
        params.append(until)
    return sql, params


def history_sql(cursor, key, *, window, z, since, until, points):
    """Return the SQL and parameters of the shown (downsampled) points of a series."""
    series, params = _series(key, until)
    starts = distribution_starts(cursor, key)
    segment = (
        "list_count(list_filter(?::TIMESTAMPTZ[], lambda s: s <= started_at))" if starts else "0"
    )
    shown = "started_at >= ?" if since is not None else "TRUE"
    buckets = max(1, points // 2)
    sql = f"""
WITH series AS ({series}),
segmented AS (
    SELECT *, {segment} AS segment FROM series
),
judged AS (
    SELECT row, started_at, value, avg(value) OVER w AS mean,
        stddev_samp(value) OVER w AS stddev, row_number() OVER ({_ORDER}) AS position
    FROM segmented
    WINDOW w AS (PARTITION BY segment {_ORDER} ROWS BETWEEN {int(window)} PRECEDING AND 1 PRECEDING)
),
shown AS (
    SELECT *, row_number() OVER (ORDER BY position) AS n, count(*) OVER () AS total
    FROM judged WHERE {shown}
),
bucketed AS (
    SELECT *, CASE WHEN total > {int(points)} THEN (n - 1) * {buckets} // total ELSE n END
        AS bucket
    FROM shown
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY bucket ORDER BY value, n) AS low,
        row_number() OVER (PARTITION BY bucket ORDER BY value DESC, n) AS high
    FROM bucketed
)
SELECT row, started_at, value, mean, stddev,
    CASE WHEN stddev > 0 THEN (value - mean) / stddev END AS z,
    coalesce(stddev > 0 AND abs(value - mean) / stddev > ?, FALSE) AS outlier, total
FROM ranked WHERE low = 1 OR high = 1 ORDER BY position"""
    tail = [since] if since is not None else []
    return sql, [*params, *([starts] if starts else []), *tail, float(z)]


def history(cursor, key, *, window, z, since=None, until=None, points=1000):
    """Return ``(points, count)``: the shown points of a series and how many there were."""
    sql, params = history_sql(
        cursor, key, window=window, z=z, since=since, until=until, points=points
    )
    rows = rows_to_dicts(cursor.execute(sql, params))
    count = rows[0]["total"] if rows else 0
    # The runs' ids are read last, for the kept points only: reading every matching run's id
    # through the table costs more than the rest of the query.
    ids = dict(
        cursor.execute(
            f"SELECT rowid, run_id FROM {RUNS} WHERE rowid IN (SELECT unnest(?::BIGINT[]))",
            [[row["row"] for row in rows]],
        ).fetchall()
    )
    points = [{"run_id": ids[row.pop("row")], **row} for row in rows]
    for point in points:
        del point["total"]
    return points, count


def samples(cursor, run_ids):
    """Return ``{run_id: [value, ...]}`` of the runs that have raw samples stored, in order."""
    if not run_ids:
        return {}
    found = cursor.execute(
        f"SELECT run_id, list(value ORDER BY id) FROM {SAMPLES} "
        "WHERE run_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY run_id",
        [list(run_ids)],
    )
    return dict(found.fetchall())


_JUDGED = f"""SELECT run_id, started_at, value, verdict, baseline, change, z FROM {VERDICTS}
    WHERE {{match}} AND metric = ? AND verdict IN ('regression', 'improvement')"""


def verdicts(cursor, key, points, *, since=None, until=None, limit=1000):
    """Add each shown point's stored ``verdict`` to ``points``; return the series' regressions
    and improvements started in ``[since, until)``, the newest ``limit``, oldest first."""
    match, params = key.match()
    params.append(key.metric)
    # The series' own verdicts first (its configuration is pushed into the scan), then the
    # shown runs among them: by run id alone, every run's verdicts of the metric are scanned.
    stored = dict(
        cursor.execute(
            f"SELECT run_id, verdict FROM {VERDICTS} WHERE {match} AND metric = ? "
            "AND run_id IN (SELECT unnest(?::VARCHAR[]))",
            [*params, [point["run_id"] for point in points]],
        ).fetchall()
    )
    for point in points:
        point["verdict"] = stored.get(point["run_id"])
    sql = _JUDGED.format(match=match)
    for bound, condition in ((since, "started_at >= ?"), (until, "started_at < ?")):
        if bound is not None:
            sql += f" AND {condition}"
            params.append(bound)
    sql += " ORDER BY started_at DESC, run_id DESC LIMIT ?"
    return rows_to_dicts(cursor.execute(sql, [*params, limit]))[::-1]
