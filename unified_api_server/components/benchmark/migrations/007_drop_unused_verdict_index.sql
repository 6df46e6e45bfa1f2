-- The verdicts' series index (002) serves no read: DuckDB scans a series' verdicts by a filter
-- on the table (EXPLAIN of the history and latest-verdict reads shows no index scan), while
-- every stored verdict updated it, about 1 s of CPU in a 100,000-run bulk load. The run index
-- (benchmark_verdicts_by_run) stays: a run's detail and the list filters read through it.
DROP INDEX IF EXISTS benchmark_verdicts_by_series;
