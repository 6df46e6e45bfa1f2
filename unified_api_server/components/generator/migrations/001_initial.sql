-- Generator database: code-generation tasks, their steps, metrics and tags, and batches of tasks.
-- @include job_tables table=generator_tasks id=task_id batches=generator_batch_tasks steps=generator_task_steps metrics=generator_task_metrics tags=generator_task_tags

-- What a generation task adds to the standard columns.
ALTER TABLE generator_tasks ADD COLUMN template_type VARCHAR;
ALTER TABLE generator_tasks ADD COLUMN architecture VARCHAR;
ALTER TABLE generator_tasks ADD COLUMN output_file VARCHAR;
