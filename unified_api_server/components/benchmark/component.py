"""What is particular to the Benchmark database: the configuration measured and its figures.

A run is one model on ONE hardware device at a batch size and precision. Its headline figures
(latency, throughput, peak memory) are flat columns, so grouped statistics over a million runs
never touch the child tables: metrics (with ``lower_is_better``), hardware metrics (what the
device did), model metrics (what the model is) and tags.
"""

import re

from unified_api_server.core import component as core

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "mixed")

# A metric name or unit says which way is better; words are matched whole ("ops" not in "stops").
_HIGHER = re.compile(
    r"(^|[^a-z])(throughput|ops|qps|fps|accuracy|speedup|per_s(ec)?|"
    r"(items|samples|tokens|images|requests)_per_(s|sec|second))($|[^a-z])"
)
_LOWER = re.compile(
    r"(^|[^a-z])(latency|time|duration|memory|mem|size|stddev|iqr|power|"
    r"energy|error|loss|load_time)($|[^a-z])"
)
_LOWER_UNITS = {
    "s",
    "ms",
    "us",
    "µs",
    "ns",
    "b",
    "bytes",
    "kb",
    "kib",
    "mb",
    "mib",
    "gb",
    "gib",
    "w",
    "j",
}


def lower_is_better(name, unit=None):
    """Return whether a smaller value of metric ``name`` is better, or None when unknown."""
    name, unit = name.lower(), (unit or "").lower()
    if _HIGHER.search(name) or unit.endswith("/s"):
        return False
    if _LOWER.search(name) or unit in _LOWER_UNITS:
        return True
    return None


def _metric_defaults(row):
    """Fill ``lower_is_better`` from the metric's name and unit when the client left it out."""
    if row.get("lower_is_better") is None:
        row["lower_is_better"] = lower_is_better(row["name"], row.get("unit"))
    return row


def _figure(name):
    return core.Column(name, kind="float", minimum=0.0, patch=True)


def _routes(blueprint, component):
    from unified_api_server.components.benchmark.pytest_benchmark import (
        register_pytest_benchmark_import,
    )

    register_pytest_benchmark_import(blueprint, component)


CONFIGURATION = ("model_name", "hardware", "batch_size", "precision")

COMPONENT = core.Component(
    name="benchmark",
    title="Benchmark API",
    entity="run",
    entities="runs",
    hardware_is_list=False,  # one device per run
    default_port=8002,
    columns=core.common_columns(hardware_kind="str")
    + (
        core.Column("batch_size", kind="int", minimum=1, filter=True),
        core.Column("precision", filter=True, search=True, choices=PRECISIONS),
        core.Column("parameters", kind="json"),  # free-form: sequence_length, ...
        _figure("latency_ms_mean"),
        _figure("latency_ms_p50"),
        _figure("latency_ms_p90"),
        _figure("latency_ms_p99"),
        _figure("throughput"),  # items per second
        _figure("memory_mb"),  # peak
    ),
    children=(
        core.metric_child(
            "benchmark_metrics",
            row_defaults=_metric_defaults,
            extra=(core.Column("lower_is_better", kind="bool"),),
        ),
        core.metric_child("benchmark_hardware_metrics", key="hardware_metrics"),
        core.metric_child("benchmark_model_metrics", key="model_metrics"),
        core.tag_child("benchmark_run_tags"),
    ),
    # Across the runs of a group: latency percentiles are over each run's mean latency.
    extra_aggregates=(
        ("latency_ms_mean", "avg(t.latency_ms_mean)"),
        (
            ("latency_ms_p50", "latency_ms_p90", "latency_ms_p99"),
            "quantile_cont(t.latency_ms_mean, [0.5, 0.9, 0.99])",
        ),
        ("throughput_mean", "avg(t.throughput)"),
        ("memory_mb_peak", "max(t.memory_mb)"),
    ),
    group_stats=(("stats", CONFIGURATION),),
    extra_routes=_routes,
)
