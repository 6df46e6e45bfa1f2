"""Generator API: model code-generation tasks with steps, metrics, tags and batches."""
