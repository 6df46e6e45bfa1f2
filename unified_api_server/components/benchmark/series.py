"""What a series is: one configuration's one metric over time, and which way is better.

A series is model x hardware x batch size x precision x metric. Its metrics are the run's
headline columns (their direction fixed here) and every named metric of the ``metrics`` child
(its direction the stored ``lower_is_better``; a metric whose direction is unknown is tracked
but never judged better or worse). Its points are its runs in ``started_at`` order.
"""

import hashlib
from dataclasses import dataclass

# The configuration a run measured: runs sharing it are points of the same series.
CONFIGURATION = ("model_name", "hardware", "batch_size", "precision")
# Headline columns of a run and whether a smaller value is the better one.
HEADLINE = {
    "latency_ms_mean": True,
    "latency_ms_p50": True,
    "latency_ms_p90": True,
    "latency_ms_p99": True,
    "throughput": False,
    "memory_mb": True,
}
METRICS_TABLE = "benchmark_metrics"  # the named metrics, with their lower_is_better
# A run's series key: one BIGINT naming its configuration, filled by the write path (the
# component's derived column) and by migration 006, so finding a series' runs reads one integer
# column instead of four. md5 (not DuckDB's hash(), which may change between releases) of the
# parts joined by U+001F, NULL parts left out; 60 bits, so it is never negative. Reads find a
# series by its key alone: two of a model's configurations sharing one is as likely as a
# random 60-bit collision.
SERIES_KEY_SQL = (
    "('0x' || md5(concat_ws(chr(31), {model_name}, {hardware}, {batch_size}, {precision}))"
    "[1:15])::BIGINT"
)

# Finds a series' runs (an index scan while few enough match); built when the database opens
# (Component.indexes), not by migration 006, which updates the rows it would index.
SERIES_INDEX_NAME = "benchmark_runs_by_series"
SERIES_INDEX = f"CREATE INDEX IF NOT EXISTS {SERIES_INDEX_NAME} ON benchmark_runs (series_key);"


def series_key_sql(alias=""):
    """Return the SQL of the series key of the runs' own columns (``alias.``), e.g. to key
    runs stored or changed by SQL outside the write path."""
    prefix = f"{alias}." if alias else ""
    return SERIES_KEY_SQL.format(**{name: prefix + name for name in CONFIGURATION})


def series_key(configuration):
    """Return the series key of a configuration (a dict of :data:`CONFIGURATION`), as the
    database computes it (:data:`SERIES_KEY_SQL`)."""
    parts = (configuration[name] for name in CONFIGURATION)
    text = chr(31).join(str(part) for part in parts if part is not None)
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:15], 16)


@dataclass(frozen=True)
class SeriesKey:
    """One series: a configuration and a metric (a headline column or a named metric).

    A part of the configuration may be None: runs with no value there form a series too (the
    judging matches parts with ``IS NOT DISTINCT FROM``)."""

    model_name: str
    hardware: str
    batch_size: int | None
    precision: str | None
    metric: str

    @property
    def configuration(self):
        """Return the series' configuration as a dict."""
        return {name: getattr(self, name) for name in CONFIGURATION}

    @property
    def is_headline(self):
        """Return whether the metric is a headline column of the runs table."""
        return self.metric in HEADLINE

    def match(self, alias=""):
        """Return ``(sql, params)``: the configuration of rows (``alias.``) is this series'.

        A None part is ``IS NULL``, any other ``= ?``, so the common case keeps a plain
        equality DuckDB can push down into its scans."""
        prefix = f"{alias}." if alias else ""
        parts, params = [], []
        for name in CONFIGURATION:
            value = getattr(self, name)
            parts.append(f"{prefix}{name} IS NULL" if value is None else f"{prefix}{name} = ?")
            params += [] if value is None else [value]
        return " AND ".join(parts), params


def verdict(change, lower_is_better, threshold):
    """Return ``regression``, ``improvement`` or ``ok`` for a relative ``change`` (0.1 = +10%).

    ``lower_is_better`` None (direction unknown) is always ``ok``; so is a change within
    ``threshold`` either way.
    """
    if lower_is_better is None or change is None or abs(change) <= threshold:
        return "ok"
    worse = change > 0 if lower_is_better else change < 0
    return "regression" if worse else "improvement"
