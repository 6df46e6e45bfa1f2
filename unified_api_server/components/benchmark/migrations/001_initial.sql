-- Benchmark database: runs (one model on one device at a batch size and precision), their
-- metrics, what the hardware did, what the model is, tags, and batches of runs.
-- @include job_tables table=benchmark_runs id=run_id batches=benchmark_batch_runs hardware=one metrics=benchmark_metrics,benchmark_hardware_metrics,benchmark_model_metrics tags=benchmark_run_tags

-- The configuration measured.
ALTER TABLE benchmark_runs ADD COLUMN batch_size BIGINT DEFAULT 1;
ALTER TABLE benchmark_runs ADD COLUMN precision VARCHAR DEFAULT 'fp32';
ALTER TABLE benchmark_runs ADD COLUMN parameters JSON;

-- Headline figures as flat columns: grouped statistics over a million runs read no child rows.
ALTER TABLE benchmark_runs ADD COLUMN latency_ms_mean DOUBLE;
ALTER TABLE benchmark_runs ADD COLUMN latency_ms_p50 DOUBLE;
ALTER TABLE benchmark_runs ADD COLUMN latency_ms_p90 DOUBLE;
ALTER TABLE benchmark_runs ADD COLUMN latency_ms_p99 DOUBLE;
ALTER TABLE benchmark_runs ADD COLUMN throughput DOUBLE;
ALTER TABLE benchmark_runs ADD COLUMN memory_mb DOUBLE;

-- Whether a smaller value of a metric is the better one (latency yes, throughput no).
ALTER TABLE benchmark_metrics ADD COLUMN lower_is_better BOOLEAN;
