-- Test Suite database: runs, their steps, metrics and tags, and batches of runs.
-- Child rows get real keys from sequences (DuckDB has no implicit auto-increment).
CREATE SEQUENCE test_run_steps_id_seq;
CREATE SEQUENCE test_run_metrics_id_seq;
CREATE SEQUENCE test_run_tags_id_seq;

CREATE TABLE test_batch_runs (
    batch_id     VARCHAR PRIMARY KEY,
    name         VARCHAR,
    description  VARCHAR,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    metadata     JSON
);

CREATE TABLE test_runs (
    run_id         VARCHAR PRIMARY KEY,
    model_name     VARCHAR NOT NULL,
    hardware       VARCHAR[] NOT NULL DEFAULT [],
    test_type      VARCHAR NOT NULL DEFAULT 'basic',
    status         VARCHAR NOT NULL DEFAULT 'completed',
    progress       DOUBLE,
    current_step   VARCHAR,
    started_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at   TIMESTAMPTZ,
    duration       DOUBLE,
    error          VARCHAR,
    batch_id       VARCHAR,
    tests_passed   BIGINT,
    tests_failed   BIGINT,
    tests_skipped  BIGINT,
    tests_errors   BIGINT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    content_hash   VARCHAR
);

CREATE TABLE test_run_steps (
    id            BIGINT PRIMARY KEY DEFAULT nextval('test_run_steps_id_seq'),
    run_id        VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,
    started_at    TIMESTAMPTZ,
    completed_at  TIMESTAMPTZ,
    duration      DOUBLE,
    message       VARCHAR
);

CREATE TABLE test_run_metrics (
    id           BIGINT PRIMARY KEY DEFAULT nextval('test_run_metrics_id_seq'),
    run_id       VARCHAR NOT NULL,
    name         VARCHAR NOT NULL,
    value        DOUBLE NOT NULL,
    unit         VARCHAR,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE test_run_tags (
    id      BIGINT PRIMARY KEY DEFAULT nextval('test_run_tags_id_seq'),
    run_id  VARCHAR NOT NULL,
    name    VARCHAR NOT NULL,
    value   VARCHAR
);

CREATE INDEX test_run_steps_run ON test_run_steps (run_id);
CREATE INDEX test_run_metrics_run ON test_run_metrics (run_id);
CREATE INDEX test_run_tags_run ON test_run_tags (run_id);
