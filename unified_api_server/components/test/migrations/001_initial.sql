-- Test Suite database: runs, their steps, metrics and tags, and batches of runs.
-- @include job_tables table=test_runs id=run_id batches=test_batch_runs steps=test_run_steps metrics=test_run_metrics tags=test_run_tags

-- What a run of a model's tests adds to the standard columns.
ALTER TABLE test_runs ADD COLUMN test_type VARCHAR DEFAULT 'basic';
ALTER TABLE test_runs ADD COLUMN tests_passed BIGINT;
ALTER TABLE test_runs ADD COLUMN tests_failed BIGINT;
ALTER TABLE test_runs ADD COLUMN tests_skipped BIGINT;
ALTER TABLE test_runs ADD COLUMN tests_errors BIGINT;
