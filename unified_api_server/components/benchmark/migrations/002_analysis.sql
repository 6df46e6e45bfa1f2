-- Judging each run against its series' history (components/benchmark/analysis.py): the verdicts,
-- the thresholds people set per selector, and the runs that start a new distribution.

-- One row per run per judged metric (a headline column or a named metric). The run's
-- configuration and start are copied here so a series' verdicts are read without the runs.
CREATE TABLE benchmark_verdicts (
    run_id           VARCHAR NOT NULL,
    metric           VARCHAR NOT NULL,
    model_name       VARCHAR,
    hardware         VARCHAR,
    batch_size       BIGINT,
    precision        VARCHAR,
    started_at       TIMESTAMPTZ,
    value            DOUBLE,
    baseline         DOUBLE,     -- mean of the window (NULL: no point before this one)
    change           DOUBLE,     -- (value - baseline) / |baseline|: 0.1 is +10%
    z                DOUBLE,     -- (value - baseline) / the window's standard deviation
    window_n         INTEGER NOT NULL,  -- points in the window
    verdict          VARCHAR NOT NULL,  -- regression, improvement, ok, no_baseline
    lower_is_better  BOOLEAN,    -- NULL: direction unknown, never better or worse
    judged_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX benchmark_verdicts_by_run ON benchmark_verdicts (run_id);
CREATE INDEX benchmark_verdicts_by_series
    ON benchmark_verdicts (model_name, hardware, batch_size, precision, metric);

-- Thresholds for every series a selector matches (a NULL part matches anything); where several
-- match, the one naming most parts wins (ties: metric, then model, hardware, batch size,
-- precision). No match: the defaults of analysis.py.
CREATE TABLE benchmark_thresholds (
    model_name   VARCHAR,
    hardware     VARCHAR,
    batch_size   BIGINT,
    precision    VARCHAR,
    metric       VARCHAR,
    percent      DOUBLE NOT NULL,   -- relative change that counts, in percent (10 = 10%)
    z            DOUBLE NOT NULL,   -- |z| that counts
    window_size  INTEGER NOT NULL,  -- points of history the baseline takes
    min_points   INTEGER NOT NULL,  -- fewer points than this: no_baseline
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A run that starts a new distribution of its configuration (every metric, or one): windows
-- of later runs never reach before it.
CREATE TABLE benchmark_distribution_changes (
    run_id     VARCHAR NOT NULL,
    metric     VARCHAR,             -- NULL: every metric of the configuration
    marked_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX benchmark_distribution_changes_by_run ON benchmark_distribution_changes (run_id);
