"""What a benchmark measures: the precisions it knows and which way each metric is better."""

import re

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
# fmt: off
_LOWER_UNITS = {"s", "ms", "us", "µs", "ns", "b", "bytes", "kb", "kib", "mb", "mib", "gb", "gib",
                "w", "j"}
# fmt: on


def lower_is_better(name, unit=None):
    """Return whether a smaller value of metric ``name`` is better, or None when unknown."""
    name, unit = name.lower(), (unit or "").lower()
    if _HIGHER.search(name) or unit.endswith("/s"):
        return False
    if _LOWER.search(name) or unit in _LOWER_UNITS:
        return True
    return None


def metric_defaults(row):
    """Fill ``lower_is_better`` from the metric's name and unit when the client left it out."""
    if row.get("lower_is_better") is None:
        row["lower_is_better"] = lower_is_better(row["name"], row.get("unit"))
    return row


def percentile(values, fraction):
    """Return the linearly interpolated ``fraction`` quantile of ``values`` (as quantile_cont)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
