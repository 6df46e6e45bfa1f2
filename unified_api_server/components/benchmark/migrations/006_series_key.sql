-- A run's series key (components/benchmark/series.py, SERIES_KEY_SQL): one integer naming its
-- configuration (model, hardware, batch size, precision), filled by the write path from now on.
-- A series' history finds its runs by a scan of this one integer column instead of the four.
-- (No index on it: DuckDB cannot create one over rows updated in the same transaction, and
-- updating an indexed column of 10M runs took over ten minutes.)
ALTER TABLE benchmark_runs ADD COLUMN series_key BIGINT;
UPDATE benchmark_runs SET series_key =
    ('0x' || md5(concat_ws(chr(31), model_name, hardware, batch_size, precision))[1:15])::BIGINT;
