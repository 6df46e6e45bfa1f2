"""Benchmark: runs of a model on a device at a batch size and precision, and their figures.

A run is one model on ONE hardware device at a batch size and precision. Its headline figures
(latency, throughput, peak memory) are flat columns, so grouped statistics over a million runs
never touch the child tables: metrics (with ``lower_is_better``), hardware metrics (what the
device did), model metrics (what the model is) and tags.
"""

from unified_api_server.components.benchmark import analysis
from unified_api_server.components.benchmark.alerts import regressions
from unified_api_server.components.benchmark.analysis_api import ANALYSIS_ROUTES
from unified_api_server.components.benchmark.demo import DEMO
from unified_api_server.components.benchmark.figures import PRECISIONS, metric_defaults
from unified_api_server.components.benchmark.histories_api import HISTORIES_ROUTES
from unified_api_server.components.benchmark.jobs import BenchmarkJobs
from unified_api_server.components.benchmark.pytest_benchmark import PYTEST_BENCHMARK
from unified_api_server.components.benchmark.series import SERIES_INDEX, SERIES_KEY_SQL
from unified_api_server.components.benchmark.series_api import SERIES_ROUTES
from unified_api_server.components.benchmark.verdicts_api import VERDICT_ROUTES
from unified_api_server.core import component as core


def _figure(name):
    return core.Column(name, kind="float", minimum=0.0, patch=True)


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
            row_defaults=metric_defaults,
            extra=(core.Column("lower_is_better", kind="bool"),),
        ),
        core.metric_child("benchmark_hardware_metrics", key="hardware_metrics"),
        core.metric_child("benchmark_model_metrics", key="model_metrics"),
        core.tag_child("benchmark_run_tags"),
        # Raw samples in the order measured (a pytest-benchmark report's rounds, in ms).
        core.Child(
            "samples",
            "benchmark_samples",
            (core.Column("value", kind="float", required=True, nullable=False),),
        ),
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
    model_summary=("hardware/stats", "hardware"),
    # Every stored run judged against its series' history (analysis.py).
    after_write=analysis.after_write,
    derived_columns=(("series_key", SERIES_KEY_SQL),),  # which series a run is a point of
    # A series' runs found by their key (history.py); migration 006 keys existing runs, so
    # its transaction cannot build this index: the database builds it when it opens.
    indexes=(SERIES_INDEX,),
    derived_tables=(analysis.VERDICTS, analysis.MARKS),
    alert_rules=(regressions,),
    detail_extras=analysis.detail,
    extra_filters=(
        core.QueryFilter(
            "regression", analysis.has_verdict("regression"), "true: runs with a metric regressed"
        ),
        core.QueryFilter(
            "improvement",
            analysis.has_verdict("improvement"),
            "true: runs with a metric improved",
        ),
    ),
    db_routes=(ANALYSIS_ROUTES, SERIES_ROUTES, HISTORIES_ROUTES, VERDICT_ROUTES),
    model_sections=(("verdicts", "verdicts", "latest_verdicts"),),
    demo=DEMO,
    jobs=BenchmarkJobs,
    importers=(PYTEST_BENCHMARK,),
)
