"""The Test Suite job's child process: run pytest on one module, reporting each test as it ends.

``python -m unified_api_server.components.test.runner TASK_JSON`` (module, test type, devices)
runs pytest with the :class:`Reporter` plugin, which sends the parent
(:mod:`unified_api_server.core.jobs.child`) one ``step`` per finished test, its numeric
``record_property`` values as ``metrics``, ``progress`` after each test and the totals as the
``result``. Tests that fail still make a completed run (the results say
so); a run that cannot run its tests (collection errors, no tests) fails with the reason.
"""

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

from unified_api_server.core.jobs.child import report as send
from unified_api_server.core.jobs.child import watch_parent
from unified_api_server.tools.pytest_outcomes import fold

TYPES = {
    "basic": "the module's unmarked tests: imports, configuration, one forward pass",
    "comprehensive": "basic plus tests marked comprehensive (batch sizes, determinism)",
    "fault_tolerance": "basic plus tests marked fault_tolerance (bad inputs fail cleanly)",
}
_MARKERS = ("comprehensive", "fault_tolerance")
_UNITS = (("_ms", "ms"), ("_s", "s"), ("_mb", "MB"), ("_bytes", "bytes"), ("_per_s", "1/s"))


def _unit(name):
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), None)


class Reporter:
    """A pytest plugin reporting to the job's parent process."""

    def __init__(self, test_type, hardware):
        self.test_type = test_type
        self.hardware = hardware
        self.total = 0
        self.done = 0
        self.counts = {"tests_passed": 0, "tests_failed": 0, "tests_skipped": 0, "tests_errors": 0}
        self.outcomes = {}
        self.collect_errors = []

    def pytest_configure(self, config):
        """Declare the markers the generated modules use."""
        for marker in _MARKERS:
            config.addinivalue_line("markers", f"{marker}: run only for test_type {marker}")

    def pytest_generate_tests(self, metafunc):
        """Run tests that take ``device`` once per requested hardware."""
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", self.hardware)

    def pytest_collection_modifyitems(self, session, config, items):
        """Keep the tests of the requested type; tell the parent how many there are."""
        keep, drop = [], []
        for item in items:
            marks = {m for m in _MARKERS if item.get_closest_marker(m)}
            (keep if not marks or self.test_type in marks else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
        self.total = len(keep)
        send("progress", progress=0.0, current_step=f"collected {self.total} tests")

    def pytest_collectreport(self, report):
        """Remember collection errors (a module that does not import)."""
        if report.failed:
            self.collect_errors.append(str(report.longrepr)[-3000:])

    def pytest_runtest_logreport(self, report):
        """Send a step when a test's outcome is known, with its numeric properties as metrics."""
        outcome = fold(self.outcomes.setdefault(report.nodeid, {"status": None}), report)
        if report.when != "teardown":
            return
        status = outcome["status"] or "error"
        key = {"passed": "tests_passed", "failed": "tests_failed", "skipped": "tests_skipped"}
        self.counts[key.get(status, "tests_errors")] += 1
        self.done += 1
        name = report.nodeid.split("::", 1)[-1]
        now = datetime.now(UTC)
        started = now - timedelta(seconds=outcome["duration"])
        send(
            "step",
            name=name,
            status=status,
            duration=round(outcome["duration"], 6),
            started_at=started.isoformat(),
            completed_at=now.isoformat(),
            message=outcome["message"],
        )
        metrics = {
            prop: {"value": float(value), "unit": _unit(prop)}
            for prop, value in report.user_properties
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        if metrics:
            send("metrics", metrics=metrics)
        send(
            "progress",
            current_step=f"{name}: {status}",
            progress=self.done / self.total if self.total else 1.0,
        )

    def pytest_sessionfinish(self, session, exitstatus):
        """Send the totals as the job's result (or the reason it could not run)."""
        if self.collect_errors:
            errors = "\n".join(self.collect_errors)
            send("error", message=f"the test module could not be collected: {errors}")
        elif self.total == 0:
            send("error", message=f"no tests of type {self.test_type!r} in the module")
        send("result", changes={"results": dict(self.counts)})


def main(argv=None):
    """Run pytest on the task's module; exit 0 when it ran (even with failing tests)."""
    task = json.loads((argv or sys.argv[1:])[0])  # module, test_type, hardware, ini
    watch_parent()
    try:
        import pytest
    except ImportError:
        message = (
            "pytest is not installed in the Test Suite's environment: "
            "pip install -e . (it is a dependency of the Test Suite)"
        )
        send("error", message=message)
        return 2
    started = time.monotonic()
    send("progress", progress=0.0, current_step="starting pytest")
    folder = os.path.dirname(os.path.abspath(task["module"]))
    options = ["-c", task["ini"], "--rootdir", folder, "--confcutdir", folder, "-q"]
    options += ["-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]
    reporter = Reporter(task["test_type"], task["hardware"])
    code = pytest.main([task["module"], *options], plugins=[reporter])
    seconds = time.monotonic() - started
    send("metrics", metrics={"pytest_seconds": {"value": seconds, "unit": "s"}})
    return 0 if int(code) in (0, 1) else int(code)


if __name__ == "__main__":
    sys.exit(main())
