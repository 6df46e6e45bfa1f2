"""What the Test Suite's results say: tests that changed between runs, flaky tests, pass rates.

A step is one test, and its status is the test's outcome: ``passed`` is a pass, ``failed``
and ``error`` are failures, ``skipped`` is neither. Other statuses (``pending``, ``running``,
a job phase's ``completed``) are no test outcome and are left out. A run that stored one test
twice (a rerun) has the outcome of its last stored step.

A configuration is a model, its hardware (a set: device order is ignored) and a test type.
Runs of one configuration differ only in when they ran, so a test whose outcome changes
between them changed "without a change". Only finished runs count in a configuration's
history (a run still going has only part of its steps).

Every analysis is one set-based query (window functions), whatever the number of runs.
"""

from unified_api_server.core.component import ACTIVE_STATUSES
from unified_api_server.core.data.reads import rows_to_dicts
from unified_api_server.core.errors import ApiError

RUNS, STEPS, BATCHES = "test_runs", "test_run_steps", "test_batch_runs"
OUTCOMES = "('passed', 'failed', 'error', 'skipped')"
FAILURES = "('failed', 'error')"
FINISHED = "t.status NOT IN (" + ", ".join(f"'{s}'" for s in ACTIVE_STATUSES) + ")"
# What compare sorts each test into; every category is counted, all but "unchanged" listed.
CATEGORIES = (
    "newly_failing",  # passed or skipped before, failed or error now
    "newly_passing",  # failed or error before, passed now
    "still_failing",  # failed or error both times
    "appeared",  # no outcome before
    "disappeared",  # no outcome now
    "changed",  # any other change of status (to or from skipped)
    "unchanged",  # the same status both times
)
LISTED = CATEGORIES[:-1]
LAST_OUTCOMES = 10  # how many of a flaky test's latest outcomes are shown

_SIDE_RUNS = {"run": "run_id", "batch": "batch_id"}

_COMPARE = f"""
WITH sides AS (
    SELECT 'baseline' AS side, run_id, started_at FROM {RUNS} WHERE {{baseline}} = ?
    UNION ALL
    SELECT 'contender', run_id, started_at FROM {RUNS} WHERE {{contender}} = ?
),
latest AS (
    SELECT r.side, s.name, s.status, s.message, s.run_id
    FROM sides r JOIN {STEPS} s ON s.run_id = r.run_id
    WHERE s.status IN {OUTCOMES}
    QUALIFY row_number() OVER (
        PARTITION BY r.side, s.name ORDER BY r.started_at DESC, r.run_id DESC, s.id DESC) = 1
),
judged AS (
    SELECT coalesce(b.name, c.name) AS name, b.status AS baseline, c.status AS contender,
        b.run_id AS baseline_run_id, c.run_id AS contender_run_id, c.message,
        CASE
            WHEN b.name IS NULL THEN 'appeared'
            WHEN c.name IS NULL THEN 'disappeared'
            WHEN c.status IN {FAILURES} AND b.status IN {FAILURES} THEN 'still_failing'
            WHEN c.status IN {FAILURES} THEN 'newly_failing'
            WHEN b.status IN {FAILURES} AND c.status = 'passed' THEN 'newly_passing'
            WHEN b.status = c.status THEN 'unchanged'
            ELSE 'changed'
        END AS change
    FROM (FROM latest WHERE side = 'baseline') b
    FULL JOIN (FROM latest WHERE side = 'contender') c ON b.name = c.name
)
SELECT change, count(*) OVER (PARTITION BY change) AS total, * EXCLUDE (change)
FROM judged
QUALIFY row_number() OVER (PARTITION BY change ORDER BY name)
    <= CASE WHEN change = 'unchanged' THEN 1 ELSE ? END
ORDER BY change, name
"""


def resolve(cursor, ident):
    """Return ``{id, kind, runs}`` of a run id or a batch id (a run wins a tie), or raise a 404."""
    run, batch, members = cursor.execute(
        f"SELECT (SELECT count(*) FROM {RUNS} WHERE run_id = $1), "
        f"(SELECT count(*) FROM {BATCHES} WHERE batch_id = $1), "
        f"(SELECT count(*) FROM {RUNS} WHERE batch_id = $1)",
        [ident],
    ).fetchone()
    if run:
        return {"id": ident, "kind": "run", "runs": 1}
    if batch or members:
        return {"id": ident, "kind": "batch", "runs": members}
    raise ApiError(404, f"no run or batch {ident!r}", {"id": ident})


def compare_sql(baseline_kind, contender_kind):
    """Return the SQL comparing a run or batch with another; its parameters are the two ids
    and the most tests listed per category."""
    return _COMPARE.format(baseline=_SIDE_RUNS[baseline_kind], contender=_SIDE_RUNS[contender_kind])


def compare(cursor, baseline, contender, limit=None):
    """Sort every test of ``baseline`` and ``contender`` (as :func:`resolve` gives them) by
    its change.

    A batch's outcome of a test is its latest: that of the batch's run started last (ties:
    the greater run id) among the runs that have the test. Returns the counts of every
    category, for each but ``unchanged`` up to ``limit`` tests by name (None: all), and the
    two sides with their number of tests.
    """
    sql = compare_sql(baseline["kind"], contender["kind"])
    rows = rows_to_dicts(cursor.execute(sql, [baseline["id"], contender["id"], limit or 2**62]))
    counts = dict.fromkeys(CATEGORIES, 0)
    body = {"counts": counts, **{name: [] for name in LISTED}}
    for row in rows:
        change, total = row.pop("change"), row.pop("total")
        counts[change] = total
        if change != "unchanged":
            body[change].append(row)
    tests = sum(counts.values())
    body["baseline"] = {**baseline, "tests": tests - counts["appeared"]}
    body["contender"] = {**contender, "tests": tests - counts["disappeared"]}
    return body


def previous_run(cursor, run_id):
    """Return the id of the finished run of ``run_id``'s configuration just before it, or None."""
    found = cursor.execute(
        f"""SELECT t.run_id FROM {RUNS} r JOIN {RUNS} t
            ON t.model_name = r.model_name AND list_sort(t.hardware) = list_sort(r.hardware)
            AND t.test_type IS NOT DISTINCT FROM r.test_type
            AND (t.started_at < r.started_at
                 OR (t.started_at = r.started_at AND t.run_id < r.run_id))
        WHERE r.run_id = ? AND {FINISHED}
        ORDER BY t.started_at DESC, t.run_id DESC LIMIT 1""",
        [run_id],
    ).fetchone()
    return found[0] if found else None


def newly_failing(cursor, run_id):
    """Return the tests ``run_id`` fails that the previous run of its configuration did not.

    Each is ``{name, baseline, contender, baseline_run_id, contender_run_id, message}``; the
    list is empty when the run has no previous run, None when there is no such run.
    """
    if not cursor.execute(f"SELECT 1 FROM {RUNS} WHERE run_id = ?", [run_id]).fetchone():
        return None
    previous = previous_run(cursor, run_id)
    if previous is None:
        return []
    sides = ({"id": previous, "kind": "run"}, {"id": run_id, "kind": "run"})
    return compare(cursor, *sides)["newly_failing"]


_FLAKY = f"""
WITH recent AS (
    SELECT t.run_id, t.model_name, list_sort(t.hardware) AS hardware, t.test_type, t.started_at
    FROM {RUNS} t {{where}}
    QUALIFY row_number() OVER (
        PARTITION BY t.model_name, list_sort(t.hardware), t.test_type
        ORDER BY t.started_at DESC, t.run_id DESC) <= ?
),
outcomes AS (
    SELECT r.*, o.name, o.status, o.status = 'passed' AS passed
    FROM (
        SELECT s.run_id, s.name, arg_max(s.status, s.id) AS status
        FROM {STEPS} s SEMI JOIN recent r ON s.run_id = r.run_id
        WHERE s.status IN ('passed', 'failed', 'error')
        GROUP BY s.run_id, s.name
    ) o JOIN recent r ON r.run_id = o.run_id
),
-- Most tests always pass (or always fail): only those with both go through the window.
mixed AS (
    SELECT model_name, hardware, test_type, name FROM outcomes
    GROUP BY ALL HAVING bool_or(passed) AND NOT bool_and(passed)
),
flips AS (
    SELECT o.*, passed <> lag(passed) OVER (
        PARTITION BY o.model_name, o.hardware, o.test_type, o.name ORDER BY o.started_at, o.run_id
    ) AS flipped
    FROM outcomes o SEMI JOIN mixed m ON o.model_name = m.model_name AND o.hardware = m.hardware
        AND o.test_type IS NOT DISTINCT FROM m.test_type AND o.name = m.name
)
SELECT model_name, hardware, test_type, name, count(*) AS runs,
    count(*) FILTER (passed) AS passed, count(*) FILTER (NOT passed) AS failed,
    count(*) FILTER (flipped) AS flips,
    round(count(*) FILTER (flipped) / nullif(count(*) - 1, 0), 6) AS flip_rate,
    max_by(status, row(started_at, run_id), {LAST_OUTCOMES}) AS last_outcomes,
    max(started_at) AS last_run_at
FROM flips
GROUP BY model_name, hardware, test_type, name
HAVING count(*) FILTER (flipped) >= ?
ORDER BY flip_rate DESC, flips DESC, model_name, hardware, test_type, name
LIMIT ?
"""


def flaky_sql(component, query):
    """Return ``(sql, params)`` of the flaky tests among the runs ``query`` selects, less the
    three numbers :func:`flaky` adds (window, least flips, limit)."""
    where, params = query.where(component, and_also=[(FINISHED, [])])
    return _FLAKY.format(where=where), params


def flaky(cursor, component, query, window, min_flips, limit):
    """Return the tests whose outcome flips between pass and fail in one configuration.

    Over each configuration's last ``window`` finished runs (those ``query`` selects), a
    test's outcomes in time order flip where one is a pass and the next a failure or back
    (skips are left out); ``flip_rate`` is flips / (outcomes - 1). A test needs
    ``min_flips`` flips to be listed, so one always passing or always failing never is.
    """
    sql, params = flaky_sql(component, query)
    return rows_to_dicts(cursor.execute(sql, [*params, window, min_flips, limit]))


_COUNTS = """count(s.name) FILTER (WHERE s.status = 'passed') AS passed,
    count(s.name) FILTER (WHERE s.status = 'failed') AS failed,
    count(s.name) FILTER (WHERE s.status = 'error') AS error,
    count(s.name) FILTER (WHERE s.status = 'skipped') AS skipped"""
_HISTORY = {
    "run": f"""SELECT t.run_id, t.started_at, t.hardware, t.test_type, t.status, {_COUNTS}
        FROM {RUNS} t LEFT JOIN {STEPS} s ON s.run_id = t.run_id AND s.status IN {OUTCOMES}
        {{where}} GROUP BY ALL ORDER BY t.started_at DESC, t.run_id DESC LIMIT ?""",
    "day": f"""SELECT date_trunc('day', t.started_at) AS started_at,
            count(DISTINCT t.run_id) AS runs, {_COUNTS}
        FROM {RUNS} t LEFT JOIN {STEPS} s ON s.run_id = t.run_id AND s.status IN {OUTCOMES}
        {{where}} GROUP BY ALL ORDER BY started_at DESC LIMIT ?""",
}


def pass_rate_history(cursor, component, query, bucket, limit):
    """Return the pass rate, passed / (passed + failed + error) steps, per run or per day.

    Points are oldest first: the latest ``limit`` runs (or days) of those ``query`` selects,
    each with its counts; a point without a pass or failure has a ``pass_rate`` of None.
    """
    sql, params = history_sql(component, query, bucket)
    return rows_to_dicts(cursor.execute(sql, [*params, limit]))


def history_sql(component, query, bucket):
    """Return ``(sql, params)`` of :func:`pass_rate_history`, less its limit."""
    where, params = query.where(component)
    sql = f"""SELECT *, round(passed / nullif(passed + failed + error, 0), 6) AS pass_rate
        FROM ({_HISTORY[bucket].format(where=where)}) ORDER BY started_at"""
    return sql + (", run_id" if bucket == "run" else ""), params
