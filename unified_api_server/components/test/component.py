"""What is particular to the Test Suite database: its columns, child tables and imports."""

from unified_api_server.core.component import (
    Column,
    Component,
    common_columns,
    metric_child,
    step_child,
    tag_child,
)


def _routes(blueprint, component):
    from unified_api_server.components.test.junit import register_junit_import

    register_junit_import(blueprint, component)


COMPONENT = Component(
    name="test",
    title="Test Suite API",
    entity="run",
    entities="runs",
    table="test_runs",
    columns=common_columns()
    + (
        Column("test_type", filter=True, search=True, max_length=64),
        Column("tests_passed", kind="int", minimum=0, patch=True, group="results"),
        Column("tests_failed", kind="int", minimum=0, patch=True, group="results"),
        Column("tests_skipped", kind="int", minimum=0, patch=True, group="results"),
        Column("tests_errors", kind="int", minimum=0, patch=True, group="results"),
    ),
    children=(
        step_child("test_run_steps"),
        metric_child("test_run_metrics"),
        tag_child("test_run_tags"),
    ),
    batch_table="test_batch_runs",
    batch_delete_param="delete_runs",
    migrations_package="unified_api_server.components.test",
    extra_routes=_routes,
    default_port=8000,
    env_prefix="TEST_API_",
)
