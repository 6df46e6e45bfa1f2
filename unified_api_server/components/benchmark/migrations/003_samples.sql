-- Raw samples of a run, in the order measured: a pytest-benchmark report's per-round times
-- (in ms) when the report is imported. History returns them with include=samples.
CREATE SEQUENCE benchmark_samples_id_seq;
CREATE TABLE benchmark_samples (
    id      BIGINT PRIMARY KEY DEFAULT nextval('benchmark_samples_id_seq'),
    run_id  VARCHAR NOT NULL,
    value   DOUBLE NOT NULL
);
CREATE INDEX benchmark_samples_by_parent ON benchmark_samples (run_id);
