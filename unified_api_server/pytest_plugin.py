"""A pytest plugin that stores a session's results in a unified-api-server.

``pytest --uas-url URL --uas-model gpt2`` (the key from ``$UAS_API_KEY``) stores the session as
one Test Suite run, each test a step, and, when pytest-benchmark ran benchmarks, its report as
benchmark runs. The plugin is installed for every pytest run, so without ``--uas-url`` and
``--uas-model`` it registers nothing and imports nothing beyond this module: in particular not
requests, which a suite that monkey-patches with gevent in its conftest must import after the
patching. A server that cannot be reached or refuses the results is a warning in the terminal
summary; it never changes the session's exit status.
"""

import os
import time
from datetime import UTC, datetime

from unified_api_server.tools.pytest_outcomes import RANK, fold, phase_message

MAX_NAME = 512  # the steps table's name column
# Exit statuses of a session that ran to its end: tests passed or failed, or none were collected.
FINISHED = (0, 1, 5)


def pytest_addoption(parser):
    """Add the --uas-* options."""
    group = parser.getgroup("uas", "store the results in a unified-api-server")
    group.addoption(
        "--uas-url",
        default=os.environ.get("UAS_URL"),
        help="gateway URL to store the results at (default $UAS_URL); the key is $UAS_API_KEY",
    )
    group.addoption("--uas-model", help="model the tests ran against; storing needs it")
    group.addoption("--uas-hardware", help="device(s) the tests ran on, comma-separated")
    group.addoption("--uas-test-type", default="pytest", help="kind of tests (default pytest)")
    group.addoption(
        "--uas-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the server's answer to each upload (default 30)",
    )


def pytest_configure(config):
    """Register the recorder when --uas-url and --uas-model are given (and not on xdist workers)."""
    url, model = config.getoption("uas_url"), config.getoption("uas_model")
    if url and model and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Recorder(config, url, model), "uas-recorder")


def _utc(seconds):
    return datetime.fromtimestamp(seconds, UTC).isoformat()


class Recorder:
    """Collects the session's test reports and stores them when the session ends."""

    def __init__(self, config, url, model):
        self.config = config
        self.url = url
        self.model = model
        self.started = time.time()
        self.steps = {}
        self.stored = []
        self.warnings = []

    def pytest_runtest_logreport(self, report):
        """Fold one phase's report into its test's step."""
        start = getattr(report, "start", None) or time.time()
        stop = getattr(report, "stop", None) or start
        step = self.steps.setdefault(
            report.nodeid,
            {"name": report.nodeid[:MAX_NAME], "status": None, "start": start},
        )
        step["stop"] = stop
        fold(step, report)

    def pytest_collectreport(self, report):
        """Record a file that failed to collect as an erroring step."""
        if report.failed:
            now = time.time()
            self.steps[report.nodeid] = {
                "name": (report.nodeid or "collection")[:MAX_NAME],
                "status": "error",
                "duration": 0.0,
                "start": now,
                "stop": now,
                "message": phase_message(report),
            }

    def run_body(self, exitstatus):
        """Return the create-run body of the session."""
        steps = [
            {
                "name": s["name"],
                "status": s["status"],
                "duration": s["duration"],
                "started_at": _utc(s["start"]),
                "completed_at": _utc(s["stop"]),
                **({"message": s["message"]} if s.get("message") else {}),
            }
            for s in self.steps.values()
        ]
        counts = {k: sum(1 for s in steps if s["status"] == k) for k in RANK}
        ended = time.time()
        hardware = self.config.getoption("uas_hardware") or "cpu"
        failed = counts["failed"] or counts["error"] or int(exitstatus) not in FINISHED
        return {
            "model_name": self.model,
            "hardware": [h.strip() for h in hardware.split(",") if h.strip()],
            "test_type": self.config.getoption("uas_test_type") or "pytest",
            "status": "failed" if failed else "completed",
            "progress": 1.0,
            "started_at": _utc(self.started),
            "completed_at": _utc(ended),
            "duration": max(ended - self.started, 0.0),
            "results": {
                "tests_passed": counts["passed"],
                "tests_failed": counts["failed"],
                "tests_skipped": counts["skipped"],
                "tests_errors": counts["error"],
            },
            "steps": steps,
        }

    @staticmethod
    def benchmark_report(config):
        """Return pytest-benchmark's --benchmark-json report as bytes, or None without results."""
        session = getattr(config, "_benchmarksession", None)
        if not config.pluginmanager.has_plugin("benchmark") or not getattr(
            session, "benchmarks", None
        ):
            return None
        from pytest_benchmark.utils import safe_dumps

        hook = config.hook
        machine_info = session.get_machine_info()
        commit_info = hook.pytest_benchmark_generate_commit_info(config=config)
        hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
        report = hook.pytest_benchmark_generate_json(
            config=config,
            benchmarks=session.benchmarks,
            include_data=True,
            machine_info=machine_info,
            commit_info=commit_info,
        )
        hook.pytest_benchmark_update_json(
            config=config, benchmarks=session.benchmarks, output_json=report
        )
        return safe_dumps(report, ensure_ascii=True).encode() if report["benchmarks"] else None

    def _attempt(self, what, action):
        """Run ``action``; any failure becomes a warning naming ``what``."""
        from unified_api_server.client import ClientError

        try:
            line = action()
        except ClientError as exc:
            self.warnings.append(f"{what} not stored at {self.url}: {exc}")
        except Exception as exc:  # a plugin must never turn a run into an internal error
            self.warnings.append(f"{what} not stored: {type(exc).__name__}: {exc}")
        else:
            if line is not None:
                self.stored.append(line)

    def _store_tests(self, client, exitstatus):
        run = client.create_run("test", self.run_body(exitstatus))
        results = run.get("results") or {}
        counts = ", ".join(
            f"{results.get(f'tests_{w}', 0)} {w}" for w in ("passed", "failed", "skipped", "errors")
        )
        return f"test run {run['run_id']} ({run['status']}): {counts}"

    def _store_benchmarks(self, client):
        report = self.benchmark_report(self.config)
        if report is None:
            return None
        hardware = self.config.getoption("uas_hardware")
        answer = client.upload_pytest_benchmark(report, self.model, hardware)
        return f"{answer['count']} benchmark runs ({answer['created']} new)"

    def pytest_sessionfinish(self, session, exitstatus):
        """Store the run and any benchmarks; failures become warnings for the summary."""
        if not self.steps:
            return
        try:
            from unified_api_server.client import Client

            timeout = (5.0, self.config.getoption("uas_timeout"))
            client = Client(self.url, os.environ.get("UAS_API_KEY"), timeout=timeout)
        except Exception as exc:
            self.warnings.append(f"results not stored: {type(exc).__name__}: {exc}")
            return
        with client:
            self._attempt("test run", lambda: self._store_tests(client, exitstatus))
            self._attempt("benchmark runs", lambda: self._store_benchmarks(client))

    def pytest_terminal_summary(self, terminalreporter):
        """Say what was stored, and warn about what was not."""
        if not (self.stored or self.warnings):
            return
        terminalreporter.write_sep("-", "unified-api-server")
        for line in self.stored:
            terminalreporter.write_line(f"stored {line}")
        for line in self.warnings:
            terminalreporter.write_line(f"WARNING: {line}", yellow=True, bold=True)
