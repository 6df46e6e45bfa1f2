"""Hand computations the statistics tests compare against (the standard library, no numpy)."""

import statistics


def quantile(values, q):
    """Return the ``q`` quantile (a whole percent) as DuckDB's quantile_cont computes it.

    ``statistics.quantiles(method="inclusive")`` interpolates linearly between closest ranks,
    which is what quantile_cont does, and is independent of the code under test.
    """
    values = list(values)
    if len(values) == 1:
        return float(values[0])
    percent = round(q * 100)
    assert abs(percent - q * 100) < 1e-9, "whole percents only"
    if percent == 0:
        return float(min(values))
    if percent == 100:
        return float(max(values))
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]
