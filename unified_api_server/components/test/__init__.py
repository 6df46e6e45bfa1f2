"""Test Suite API: model test runs with steps, metrics, tags and batches."""
