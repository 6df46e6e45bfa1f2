"""Test Suite: model test runs with their steps, metrics, tags and batches; runs a model's tests."""

from unified_api_server.components.test.alerts import test_failures
from unified_api_server.components.test.demo import DEMO
from unified_api_server.components.test.jobs import TestJobs
from unified_api_server.components.test.junit import JUNIT
from unified_api_server.components.test.routes import ROUTES
from unified_api_server.core.component import (
    Column,
    Component,
    common_columns,
    metric_child,
    step_child,
    tag_child,
)

COMPONENT = Component(
    name="test",
    title="Test Suite API",
    entity="run",
    entities="runs",
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
    db_routes=(ROUTES,),
    alert_rules=(test_failures,),
    demo=DEMO,
    jobs=TestJobs,
    importers=(JUNIT,),
    default_port=8000,
)
