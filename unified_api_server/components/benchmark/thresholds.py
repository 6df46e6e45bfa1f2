"""The SQL of the judging's settings: thresholds per selector, and distribution changes."""

from unified_api_server.components.benchmark.analysis import (
    DEFAULTS,
    MARKS,
    RUNS,
    SELECTOR,
    THRESHOLDS,
)
from unified_api_server.components.benchmark.series import HEADLINE, METRICS_TABLE
from unified_api_server.core.data.reads import rows_to_dicts
from unified_api_server.core.errors import ApiError

# API names of the figures and their columns.
FIGURES = {"percent": "percent", "z": "z", "window": "window_size", "min_points": "min_points"}
_MATCH = " AND ".join(f"{n} IS NOT DISTINCT FROM ?" for n in SELECTOR)


def _shape(row):
    return {
        "selector": {n: row[n] for n in SELECTOR},
        **{name: row[column] for name, column in FIGURES.items()},
        "updated_at": row["updated_at"],
    }


def list_thresholds(cursor):
    """Return every selector's thresholds, most specific first."""
    rank = " + ".join(f"({n} IS NOT NULL)::INT" for n in SELECTOR)
    rows = rows_to_dicts(
        cursor.execute(f"SELECT * FROM {THRESHOLDS} ORDER BY {rank} DESC, {', '.join(SELECTOR)}")
    )
    return [_shape(row) for row in rows]


def known_metric(cursor, metric):
    """Return whether ``metric`` is a headline column or a named metric some run has."""
    if metric in HEADLINE:
        return True
    found = cursor.execute(f"SELECT 1 FROM {METRICS_TABLE} WHERE name = ? LIMIT 1", [metric])
    return found.fetchone() is not None


def _require_metric(cursor, metric):
    if metric is not None and not known_metric(cursor, metric):
        raise ApiError(
            400,
            f"metric: unknown metric {metric!r}: not a headline figure and no run has it",
            {"metric": metric, "headline": list(HEADLINE)},
        )


def set_threshold(cursor, selector, figures):
    """Store ``figures`` for ``selector`` (replacing its earlier ones); return the row."""
    _require_metric(cursor, selector.get("metric"))
    key = [selector.get(n) for n in SELECTOR]
    cursor.execute(f"DELETE FROM {THRESHOLDS} WHERE {_MATCH}", key)
    columns = [*SELECTOR, *FIGURES.values()]
    cursor.execute(
        f"INSERT INTO {THRESHOLDS} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [*key, *(figures[name] for name in FIGURES)],
    )
    row = rows_to_dicts(cursor.execute(f"SELECT * FROM {THRESHOLDS} WHERE {_MATCH}", key))[0]
    return _shape(row)


def delete_threshold(cursor, selector):
    """Delete ``selector``'s thresholds (its series fall back to others); 404 if it has none."""
    key = [selector.get(n) for n in SELECTOR]
    deleted = cursor.execute(f"DELETE FROM {THRESHOLDS} WHERE {_MATCH}", key).fetchone()[0]
    if not deleted:
        raise ApiError(404, "no thresholds are set for this selector", {"selector": selector})


def defaults():
    """Return the thresholds a series no selector matches takes."""
    return dict(DEFAULTS)


def mark(cursor, run_id, metric):
    """Mark run ``run_id`` as the start of a new distribution; return ``(mark, the run's model
    if the mark is new, else None)``."""
    run = cursor.execute(f"SELECT model_name FROM {RUNS} WHERE run_id = ?", [run_id]).fetchone()
    if run is None:
        raise ApiError(404, f"run {run_id!r} not found")
    _require_metric(cursor, metric)
    select = f"SELECT run_id, metric, marked_at FROM {MARKS} WHERE run_id = ? AND metric "
    select += "IS NOT DISTINCT FROM ?"
    found = rows_to_dicts(cursor.execute(select, [run_id, metric]))
    if found:
        return found[0], None
    cursor.execute(f"INSERT INTO {MARKS} (run_id, metric) VALUES (?, ?)", [run_id, metric])
    return rows_to_dicts(cursor.execute(select, [run_id, metric]))[0], run[0]
