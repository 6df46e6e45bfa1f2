"""Import of ``pytest --benchmark-json`` reports: one benchmark run per benchmark in the report."""

import hashlib
from datetime import UTC, datetime, timedelta

import orjson

from unified_api_server.components.benchmark.figures import percentile
from unified_api_server.core.component import Importer
from unified_api_server.core.errors import ApiError
from unified_api_server.core.web.args import parse_int, parse_time

# pytest-benchmark's statistics, in seconds except ops (per second) and rounds (a count).
STATS = {
    "min": "s",
    "max": "s",
    "mean": "s",
    "stddev": "s",
    "median": "s",
    "iqr": "s",
    "ops": "ops/s",
    "rounds": "rounds",
}
# Machine facts that are numbers become hardware metrics; the descriptive ones become tags.
HARDWARE_FACTS = (
    ("count", "cpu_count", "cores"),
    ("hz_actual", "cpu_hz_actual", "Hz"),
    ("hz_advertised", "cpu_hz_advertised", "Hz"),
    ("bits", "cpu_bits", "bits"),
)
MACHINE_TAGS = (
    ("node", "machine.node"),
    ("system", "machine.system"),
    ("release", "machine.release"),
    ("python_version", "machine.python_version"),
    ("python_implementation", "machine.python_implementation"),
)
CPU_TAGS = (("brand_raw", "cpu.brand"), ("arch", "cpu.arch"), ("vendor_id_raw", "cpu.vendor"))
# Per-round times kept as a run's raw samples; more rounds are thinned to an even stride.
MAX_SAMPLES = 10_000


def _number(value):
    if isinstance(value, list) and value:  # cpuinfo's hz_* are [hz, 0]
        value = value[0]
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _percentiles_ms(data):
    """Return p90 and p99 in ms of per-round times (linear interpolation, as quantile_cont)."""
    times = [t for t in data or () if _number(t) is not None]
    if len(times) < 2:
        return None, None
    return percentile(times, 0.9) * 1000.0, percentile(times, 0.99) * 1000.0


def _samples_ms(data):
    """Return per-round times as sample rows in ms, at most MAX_SAMPLES (an even stride)."""
    times = [t for t in data or () if _number(t) is not None] if isinstance(data, list) else []
    stride = -(-len(times) // MAX_SAMPLES) or 1  # ceiling: what is kept fits the cap
    return [{"value": t * 1000.0} for t in times[::stride]]


def parse_report(raw):
    """Return the report as a dict, or raise a 400 naming what is not pytest-benchmark JSON."""
    try:
        report = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(report, dict) or not isinstance(report.get("benchmarks"), list):
        raise ApiError(
            400,
            "not a pytest-benchmark report: expected an object with a "
            "'benchmarks' list (pytest --benchmark-json)",
        )
    if not report["benchmarks"]:
        raise ApiError(400, "the report holds no benchmarks")
    for index, bench in enumerate(report["benchmarks"]):
        stats = bench.get("stats") if isinstance(bench, dict) else None
        missing = [k for k in STATS if not isinstance(stats, dict) or _number(stats.get(k)) is None]
        if not isinstance(bench, dict) or not isinstance(bench.get("name"), str) or missing:
            raise ApiError(
                400,
                f"benchmarks[{index}]: needs a name and numeric stats "
                f"{', '.join(missing or STATS)}",
                {"benchmark": index},
            )
    return report


def _machine(report):
    machine = report.get("machine_info") if isinstance(report.get("machine_info"), dict) else {}
    cpu = machine.get("cpu") if isinstance(machine.get("cpu"), dict) else {}
    hardware_metrics = {
        name: {"value": _number(cpu.get(key)), "unit": unit}
        for key, name, unit in HARDWARE_FACTS
        if _number(cpu.get(key)) is not None
    }
    tags = {
        tag: str(source.get(key))[:512]
        for source, pairs in ((machine, MACHINE_TAGS), (cpu, CPU_TAGS))
        for key, tag in pairs
        if source.get(key) not in (None, "")
    }
    commit = report.get("commit_info")
    if isinstance(commit, dict) and commit.get("id"):
        tags["commit"] = str(commit["id"])[:512]
    return hardware_metrics, tags


def _object(value):
    """Return ``value`` when it is a JSON object, else an empty one (params may be null)."""
    return value if isinstance(value, dict) else {}


def _completed_at(started_at, seconds):
    try:
        return (started_at + timedelta(seconds=seconds)).isoformat()
    except OverflowError:
        raise ApiError(
            400, "datetime plus a benchmark's total time falls after the year 9999"
        ) from None


def runs_from_report(report, args):
    """Return the create-run bodies for every benchmark of a parsed report."""
    batch_size = parse_int(args.get("batch_size"), "batch_size", minimum=1, default=1)
    started_at = (
        parse_time(report["datetime"], "datetime")
        if isinstance(report.get("datetime"), str)
        else datetime.now(UTC)
    )
    hardware_metrics, machine_tags = _machine(report)
    runs = []
    for bench in report["benchmarks"]:
        stats = bench["stats"]
        p90, p99 = _percentiles_ms(stats.get("data"))
        identity = (
            f"{report.get('datetime')}|{machine_tags.get('machine.node')}|"
            f"{bench.get('fullname') or bench['name']}"
        )
        parameters = {
            **_object(bench.get("params")),
            **_object(bench.get("extra_info")),
        }
        tags = {**machine_tags, "benchmark": str(bench.get("fullname") or bench["name"])}
        if bench.get("group"):
            tags["group"] = str(bench["group"])
        body = {
            "run_id": "pytest-benchmark-" + hashlib.sha256(identity.encode()).hexdigest()[:32],
            "model_name": args.get("model_name") or bench["name"],
            "hardware": args.get("hardware") or "cpu",
            "batch_size": batch_size,
            "precision": args.get("precision") or "fp32",
            "parameters": parameters,
            "status": "completed",
            "progress": 1.0,
            "started_at": started_at.isoformat(),
            "completed_at": _completed_at(started_at, _number(stats.get("total")) or 0),
            "duration": _number(stats.get("total")),
            "latency_ms_mean": stats["mean"] * 1000.0,
            "latency_ms_p50": stats["median"] * 1000.0,
            "latency_ms_p90": p90,
            "latency_ms_p99": p99,
            "throughput": stats["ops"] * batch_size,
            "metrics": {
                name: {"value": _number(stats[name]), "unit": unit} for name, unit in STATS.items()
            },
            "hardware_metrics": hardware_metrics,
            "tags": tags,
            "samples": _samples_ms(stats.get("data")),
        }
        if args.get("batch_id"):
            body["batch_id"] = args["batch_id"]
        runs.append({k: v for k, v in body.items() if v is not None})
    return runs


def runs_from_bytes(raw, args):
    """Return the create-run bodies of a raw report; importing it again stores nothing new."""
    return runs_from_report(parse_report(raw), args)


PYTEST_BENCHMARK = Importer(
    format="pytest-benchmark",
    parse=runs_from_bytes,
    params=("model_name", "hardware", "batch_size", "precision", "batch_id"),
    description="a pytest --benchmark-json report",
    items_key="benchmarks",
)
