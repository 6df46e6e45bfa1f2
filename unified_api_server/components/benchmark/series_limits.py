"""The thresholds history and compare judge a series by, and where its distributions start.

One place: the defaults (a change over 10%, |z| over 3, a window of 20 points) apply unless the
judging's tables (migration 002) hold a threshold whose selector matches the series (ranked as
the judging ranks them, ``analysis.selector_rank``) or marks a run as
the start of a new distribution. Both tables are read only when they exist.
"""

from unified_api_server.components.benchmark.analysis import (
    DEFAULTS as JUDGING,
)
from unified_api_server.components.benchmark.analysis import (
    MARKS,
    SELECTOR,
    THRESHOLDS,
    selector_rank,
)

# The judging's defaults, less its minimum of points (a history shows every point).
DEFAULTS = {name: JUDGING[name] for name in ("percent", "z", "window")}


def _exists(cursor, table):
    found = cursor.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'", [table]
    )
    return found.fetchone() is not None


class Limits:
    """The stored thresholds, read once per request, matched to a series in Python."""

    def __init__(self, cursor):
        self.rows = []
        if _exists(cursor, THRESHOLDS):
            names = ", ".join(SELECTOR)
            found = cursor.execute(f"SELECT {names}, percent, z, window_size FROM {THRESHOLDS}")
            self.rows = [
                dict(zip((*SELECTOR, "percent", "z", "window"), r)) for r in found.fetchall()
            ]

    def of(self, configuration, metric):
        """Return ``{"percent", "z", "window"}`` for one configuration (a dict) and metric
        (shared: not to be changed)."""
        if not self.rows:  # the common case, asked once per pair and metric
            return DEFAULTS
        wanted = {**configuration, "metric": metric}
        best, rank = DEFAULTS, -1
        for row in self.rows:
            if all(row[n] is None or row[n] == wanted[n] for n in SELECTOR):
                score = selector_rank(n for n in SELECTOR if row[n] is not None)
                if score > rank:
                    best, rank = {k: row[k] for k in DEFAULTS}, score
        return best


def distribution_starts_of(cursor, model_name, metric):
    """Return ``{(hardware, batch_size, precision): [start, ...]}``: the start times of the
    runs of ``model_name`` marked as starting a new distribution of ``metric`` (a mark for
    every metric counts too), oldest first, by configuration."""
    if not _exists(cursor, MARKS):
        return {}
    marked = cursor.execute(
        f"SELECT DISTINCT run_id FROM {MARKS} WHERE metric IS NULL OR metric = ?", [metric]
    ).fetchall()
    if not marked:
        return {}
    # Few marks: a constant list lets the runs' primary-key index find them.
    places = ", ".join("?" * len(marked))
    found = cursor.execute(
        "SELECT hardware, batch_size, precision, started_at FROM benchmark_runs "
        f"WHERE run_id IN ({places}) AND model_name = ? ORDER BY started_at",
        [*(m[0] for m in marked), model_name],
    )
    starts = {}
    for hardware, batch_size, precision, started_at in found.fetchall():
        starts.setdefault((hardware, batch_size, precision), []).append(started_at)
    return starts
