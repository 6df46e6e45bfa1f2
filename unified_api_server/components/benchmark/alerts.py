"""The benchmark's alert rule: a series judged a regression (``analysis.py`` verdicts).

One alert per series (configuration x metric). A write's latest verdict of each series it
touched decides: ``regression`` raises (when none is open), ``ok`` or ``improvement``
resolves the open one; ``no_baseline`` changes nothing.
"""

from unified_api_server.components.benchmark.analysis import VERDICTS
from unified_api_server.core.data.alert_queries import OPEN
from unified_api_server.core.data.alerts import Finding

_SERIES = ("model_name", "hardware", "batch_size", "precision", "metric")
# Only the series whose latest verdict can change an alert: a regression (raises), or any other
# verdict of a series with an open alert (resolves it); a bulk load touches tens of thousands.
_OPEN_ALERT = (
    "EXISTS (SELECT 1 FROM alerts a WHERE a.kind = 'regression' AND a.state IN ("
    + ", ".join(f"'{state}'" for state in OPEN)
    + ") AND a.test_type IS NULL AND a.test_name IS NULL AND "
    + " AND ".join(f"a.{n} IS NOT DISTINCT FROM l.{n}" for n in _SERIES)
    + ")"
)
_LATEST = f"""
    SELECT * FROM (SELECT model_name, hardware, batch_size, precision, metric,
        arg_max(struct_pack(run_id, verdict, value, baseline, change, z, window_n),
                (started_at, run_id)) AS latest
    FROM {VERDICTS} WHERE run_id IN ({{ids}}) AND verdict <> 'no_baseline'
    GROUP BY ALL) l
    WHERE l.latest.verdict = 'regression' OR {_OPEN_ALERT}"""


def regressions(cursor, written):
    """Return the findings of a write: series that regressed, and series that recovered."""
    if written.key not in (None, "metrics"):
        return []
    rows = cursor.execute(_LATEST.format(ids=written.ids_sql), list(written.params)).fetchall()
    found = []
    for row in rows:
        series, latest = dict(zip(_SERIES, row[:5])), row[5]
        firing = latest["verdict"] == "regression"
        found.append(
            Finding(
                "regression", series, latest["run_id"], firing, _message(series, latest), latest
            )
        )
    return found


def _message(series, latest):
    change = latest["change"]
    moved = f"{change:+.1%}" if change is not None else "changed"
    return (
        f"{series['metric']} of {series['model_name']} ({series['hardware']}, batch "
        f"{series['batch_size']}, {series['precision']}) regressed {moved} against its "
        f"baseline {latest['baseline']:.4g} in run {latest['run_id']}"
    )


_VERDICT_FIELDS = ("run_id", "started_at", "verdict", "value", "baseline", "change", "z")
_LATEST_OF_MODEL = f"""
    SELECT model_name, hardware, batch_size, precision, metric,
        arg_max(struct_pack({", ".join(_VERDICT_FIELDS)}), (started_at, run_id))
    FROM {VERDICTS} WHERE model_name = ? GROUP BY ALL
    ORDER BY hardware, batch_size, precision, metric LIMIT ?"""


def latest_verdicts(cursor, model_name, limit):
    """Return the latest verdict of each series of ``model_name`` (up to ``limit`` series)."""
    rows = cursor.execute(_LATEST_OF_MODEL, [model_name, limit]).fetchall()
    return [{**dict(zip(_SERIES, row[:5])), **row[5]} for row in rows]
