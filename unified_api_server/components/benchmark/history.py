"""The SQL of series' history: their points with rolling statistics, downsampled, with samples.

Each point carries the mean and the sample standard deviation of the ``window`` points before
it (never reaching back across a run marked as the start of a new distribution), its z-score
against them, and whether ``|z|`` is over the threshold. The statistics are taken over the whole
series up to ``until``; ``since`` only chooses which points are shown, so the first shown point
is judged against the points before it. Downsampling cuts the shown points into ``points // 2``
buckets of consecutive points and keeps each bucket's lowest and highest point: at most
``points`` come back, in time order, and no spike is ever lost. The verdicts stored when each
run was judged (:mod:`.analysis`) can come along: each shown point's, and every regression and
improvement of the shown range, which downsampling never drops.

Several configurations of one model are read at once, each its own series with its own window
and threshold, by one statement: its runs are found by their series key (one integer column,
:data:`.series.SERIES_KEY_SQL`), not by the four columns of their configuration: by the index
on it (:data:`.series.SERIES_INDEX`) where there is one and few enough runs match, else by a
scan of that column. The run ids of the shown points only are read last, by row id.
"""

import duckdb

from unified_api_server.components.benchmark.analysis import VERDICTS
from unified_api_server.components.benchmark.series import (
    CONFIGURATION,
    HEADLINE,
    METRICS_TABLE,
    SERIES_INDEX_NAME,
    series_key,
)
from unified_api_server.core.data.reads import rows_to_dicts
from unified_api_server.core.errors import ApiError

RUNS = "benchmark_runs"
SAMPLES = "benchmark_samples"
PARTS = CONFIGURATION[1:]  # a model's configurations differ in these
# One series read: its number, key, parts, window, z threshold and distribution starts.
_CHOSEN = (
    "STRUCT(series INTEGER, series_key BIGINT, hardware VARCHAR, batch_size BIGINT, "
    "precision VARCHAR, window_size INTEGER, z_limit DOUBLE, starts TIMESTAMPTZ[])[]"
)
_ORDER = "ORDER BY started_at, row"


def _same(alias):
    """Return the SQL condition: rows ``alias`` have the configuration parts of ``c``."""
    return " AND ".join(f"{alias}.{name} IS NOT DISTINCT FROM c.{name}" for name in PARTS)


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


def _series(metric, chosen, until, keyed, indexed):
    """Return the SQL of two CTEs, ``found`` and ``series``, and their parameters: the chosen
    series' raw points up to ``until``, found by their series key if ``keyed`` (by the index
    on it if ``indexed``), else by their configuration's parts alone."""
    headline = metric in HEADLINE  # a trusted name: HEADLINE's keys are the runs' columns
    value, joined, params = f"r.{metric}", "", []
    if not headline:
        value, joined = "m.value", f" JOIN {METRICS_TABLE} m ON m.run_id = r.run_id AND m.name = ?"
    bound = "" if until is None else " AND r.started_at < ?"
    if keyed:
        # Keys are 60 bits of md5: two of a model's configurations sharing one is as likely as
        # a random 60-bit collision. Reading the parts too would read them wherever a point
        # lies, all through the table.
        keys = ", ".join(str(series_key(c)) for c in chosen)  # integers: safe in the text
        carried, found, on = "series_key", f"series_key IN ({keys})", "r.series_key = c.series_key"
    else:
        carried, found, on = ", ".join(PARTS), "model_name = ?", _same("r")
        params.append(chosen[0]["model_name"])
    materialized = ""
    if keyed and indexed:
        # The keys as constants and nothing else in the scan's filter (the CTE materialized
        # keeps the rest out): DuckDB then finds the runs by the index on series_key, while
        # few enough match (0.1% of the table); another filter beside the key, or a join
        # pushed into the scan, and it takes no index.
        materialized = " MATERIALIZED"
    elif headline:  # a scan: its filters pushed into it
        found += f" AND {metric} IS NOT NULL{bound.replace('r.', '')}"
        params += [] if until is None else [until]
    params += ([] if headline else [metric]) + ([] if until is None else [until])
    segment = "0"
    if any(c["starts"] for c in chosen):
        segment = "list_count(list_filter(c.starts, lambda s: s <= r.started_at))"
    read = metric if headline else "run_id"
    sql = (
        f"found AS{materialized} (SELECT {carried}, rowid AS row, started_at, {read} "
        f"FROM {RUNS} WHERE {found}),\n"
        f"series AS (SELECT c.series, c.window_size, c.z_limit, {segment} AS segment, r.row, "
        f"r.started_at, {value} AS value FROM found r{joined} JOIN chosen c ON {on} "
        f"WHERE {value} IS NOT NULL{bound})"
    )
    return sql, params


def indexed(cursor):
    """Return whether the runs' series key is indexed (:data:`.series.SERIES_INDEX`, built
    when the database opens; never on DuckLake)."""
    found = cursor.execute(
        "SELECT 1 FROM duckdb_indexes() WHERE table_name = ? AND index_name = ?",
        [RUNS, SERIES_INDEX_NAME],
    )
    return found.fetchone() is not None


def histories_sql(metric, chosen, *, since, until, points, keyed=True, indexed=True):
    """Return the SQL and parameters of the shown (downsampled) points of the ``chosen`` series
    (dicts of one model's configuration, ``window``, ``z`` and ``starts``), in one statement."""
    series, params = _series(metric, chosen, until, keyed, indexed)
    shown = "started_at >= ?" if since is not None else "TRUE"
    buckets = max(1, points // 2)
    sql = f"""
WITH chosen AS (SELECT unnest(?::{_CHOSEN}, recursive := true)),
{series},
judged AS (
    SELECT series, row, started_at, value, z_limit, avg(value) OVER w AS mean,
        stddev_samp(value) OVER w AS stddev,
        row_number() OVER (PARTITION BY series {_ORDER}) AS position
    FROM series
    WINDOW w AS (PARTITION BY series, segment {_ORDER}
        ROWS BETWEEN window_size PRECEDING AND 1 PRECEDING)
),
shown AS (
    SELECT *, row_number() OVER (PARTITION BY series ORDER BY position) AS n,
        count(*) OVER (PARTITION BY series) AS total
    FROM judged WHERE {shown}
),
bucketed AS (
    SELECT *, CASE WHEN total > {int(points)} THEN (n - 1) * {buckets} // total ELSE n END
        AS bucket
    FROM shown
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY series, bucket ORDER BY value, n) AS low,
        row_number() OVER (PARTITION BY series, bucket ORDER BY value DESC, n) AS high
    FROM bucketed
)
SELECT series, row, started_at, value, mean, stddev,
    CASE WHEN stddev > 0 THEN (value - mean) / stddev END AS z,
    coalesce(stddev > 0 AND abs(value - mean) / stddev > z_limit, FALSE) AS outlier, total
FROM ranked WHERE low = 1 OR high = 1 ORDER BY series, position"""
    structs = [
        {
            "series": index,
            "series_key": series_key(c),
            **{name: c[name] for name in PARTS},
            "window_size": int(c["window"]),
            "z_limit": float(c["z"]),
            "starts": c["starts"],
        }
        for index, c in enumerate(chosen)
    ]
    return sql, [structs, *params, *([since] if since is not None else [])]


def _dicts(cursor):
    """Return the rows as dicts, times left as DuckDB gives them: the answer's JSON (orjson)
    writes the same ISO 8601 text at a fraction of the cost of converting them here."""
    return rows_to_dicts(cursor, times_as_text=False)


def configurations(cursor, where, params, most):
    """Return ``(the most-run configurations, how many there are)``: up to ``most`` of the
    configurations of the runs ``where`` (the query grammar's, alias ``t``) selects, the
    most runs first, each a dict of :data:`.series.CONFIGURATION` and ``runs``."""
    names = ", ".join(CONFIGURATION)
    rows = rows_to_dicts(
        cursor.execute(
            f"SELECT {names}, count(*) AS runs, count(*) OVER () AS configurations "
            f"FROM {RUNS} t {where} GROUP BY ALL ORDER BY runs DESC, {names} LIMIT ?",
            [*params, int(most)],
        )
    )
    total = rows[0].pop("configurations") if rows else 0
    for row in rows[1:]:
        del row["configurations"]
    return rows, total


def histories(cursor, metric, chosen, *, since=None, until=None, points=1000):
    """Return ``[(points, count)]``, one per ``chosen`` series (dicts of a configuration,
    ``window``, ``z`` and ``starts``, all of one model): its shown points and how many."""
    if not chosen:
        return []
    bounds = {"since": since, "until": until, "points": points, "indexed": indexed(cursor)}
    try:
        rows = _dicts(cursor.execute(*histories_sql(metric, chosen, **bounds)))
    except duckdb.BinderException:  # migration 006 pending (auto_migrate off): no series key
        rows = _dicts(cursor.execute(*histories_sql(metric, chosen, **bounds, keyed=False)))
    # The runs' ids are read last, for the kept points only, by row id: reading every
    # matching run's id through the table (or the index) costs more than the rest.
    ids = dict(
        cursor.execute(
            f"SELECT k.row, r.run_id FROM (SELECT unnest(?::BIGINT[]) AS row) k "
            f"JOIN {RUNS} r ON r.rowid = k.row",
            [[row["row"] for row in rows]],
        ).fetchall()
    )
    found = [[] for _ in chosen]
    for row in rows:
        found[row.pop("series")].append({"run_id": ids[row.pop("row")], **row})
    answers = []
    for shown in found:
        count = shown[0]["total"] if shown else 0
        for point in shown:
            del point["total"]
        answers.append((shown, count))
    return answers


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


_PARTS_OF = "STRUCT(series INTEGER, hardware VARCHAR, batch_size BIGINT, precision VARCHAR)[]"
_VERDICTS_SQL = f"""WITH chosen AS (SELECT unnest(?::{_PARTS_OF}, recursive := true)),
v AS (SELECT c.series, v.* FROM {VERDICTS} v JOIN chosen c
    ON {_same("v")} WHERE v.model_name = ? AND v.metric = ?{{pushed}})
SELECT series, FALSE AS judged, run_id, NULL::TIMESTAMPTZ AS started_at, NULL::DOUBLE AS value,
    verdict, NULL::DOUBLE AS baseline, NULL::DOUBLE AS change, NULL::DOUBLE AS z
FROM v WHERE run_id IN (SELECT unnest(?::VARCHAR[]))
UNION ALL (SELECT series, TRUE, run_id, started_at, value, verdict, baseline, change, z
    FROM v WHERE verdict IN ('regression', 'improvement'){{bounds}}
    QUALIFY row_number() OVER (PARTITION BY series ORDER BY started_at DESC, run_id DESC) <= ?)
ORDER BY series, judged, started_at, run_id"""


def verdicts(cursor, metric, chosen, shown, *, since=None, until=None, limit=1000):
    """Add each shown point's stored ``verdict`` to ``shown`` (a list of points per ``chosen``
    series); return per series its regressions and improvements started in ``[since,
    until)``, the newest ``limit``, oldest first."""
    parts = [{"series": i, **{n: c[n] for n in PARTS}} for i, c in enumerate(chosen)]
    params, pushed = [parts, chosen[0]["model_name"], metric], ""
    if len(chosen) == 1:  # one series: its configuration is pushed into the scan
        for name in PARTS:
            value = chosen[0][name]
            pushed += f" AND v.{name} IS NULL" if value is None else f" AND v.{name} = ?"
            params += [] if value is None else [value]
    params.append([point["run_id"] for points in shown for point in points])
    bounds = ""
    for bound, condition in ((since, "started_at >= ?"), (until, "started_at < ?")):
        if bound is not None:
            bounds += f" AND {condition}"
            params.append(bound)
    sql = _VERDICTS_SQL.format(pushed=pushed, bounds=bounds)
    stored, judged = {}, [[] for _ in chosen]
    for row in _dicts(cursor.execute(sql, [*params, limit])):
        series = row.pop("series")
        if row.pop("judged"):
            judged[series].append(row)
        else:
            stored[row["run_id"]] = row["verdict"]
    for points in shown:
        for point in points:
            point["verdict"] = stored.get(point["run_id"])
    return judged
