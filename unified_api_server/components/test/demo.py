"""The Test Suite's part of the demo data set: typed runs, their results and their steps."""

import math
from datetime import timedelta

from unified_api_server.core.component import Demo

TEST_TYPES = ("basic", "comprehensive", "fault_tolerance")
TESTS_PER_TYPE = {"basic": 12, "comprehensive": 48, "fault_tolerance": 20}
FAILURES = (
    "AssertionError: output logits differ from reference (max abs diff 3.2e-2)",
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "TimeoutError: model load exceeded 300 s",
)
STEPS = ("load_model", "prepare_inputs", "inference", "compare_outputs", "teardown")


def fill(item):
    """Return a demo run's own columns and its steps."""
    rng, status = item.rng, item.status
    test_type = rng.choices(TEST_TYPES, weights=(6, 3, 1))[0]
    duration = rng.lognormvariate(math.log(20 + item.model.params / 20), 0.5) * (
        1 + TEST_TYPES.index(test_type)
    )
    row = {
        "hardware": item.devices(1, 2),
        "progress": 1.0 if status == "completed" else round(rng.random(), 2),
        "current_step": "done" if status == "completed" else "inference",
        "test_type": test_type,
    }
    if status != "running":
        failed = 0 if status == "completed" else rng.randint(1, 4)
        skipped = rng.randint(0, 3)
        row.update(
            completed_at=item.ended(duration),
            duration=round(duration, 3),
            tests_passed=TESTS_PER_TYPE[test_type] - failed - skipped,
            tests_failed=failed,
            tests_skipped=skipped,
            tests_errors=0,
        )
    if status in ("failed", "timeout"):
        row["error"] = rng.choice(FAILURES)
    return row, {"steps": _steps(item, duration)}


def _steps(item, duration):
    rng, status = item.rng, item.status
    cut = len(STEPS) if status in ("completed", "running") else rng.randint(1, len(STEPS))
    at, steps = item.started, []
    for index, name in enumerate(STEPS[:cut]):
        length = duration * rng.uniform(0.05, 0.4)
        step_status = "completed"
        if index == cut - 1 and status != "completed":
            step_status = "running" if status == "running" else "failed"
        steps.append(
            {
                "name": name,
                "status": step_status,
                "started_at": at.isoformat(timespec="milliseconds"),
                "completed_at": (at + timedelta(seconds=length)).isoformat(timespec="milliseconds"),
                "duration": round(length, 3),
            }
        )
        at += timedelta(seconds=length)
    return steps


DEMO = Demo(size=3000, fill=fill)
