-- A deleted run now takes its verdicts and distribution marks with it (Component.derived_tables).
-- Runs deleted before that left theirs behind: forget them too.
DELETE FROM benchmark_verdicts WHERE run_id NOT IN (SELECT run_id FROM benchmark_runs);
DELETE FROM benchmark_distribution_changes
    WHERE run_id NOT IN (SELECT run_id FROM benchmark_runs);
