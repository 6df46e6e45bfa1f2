"""JUnit XML import of the reports the common runners write (files in ``junit_reports/``).

pytest, node, CTest and Surefire reports were written by running those tools; the Gradle,
jest-junit and go-junit-report ones reproduce those tools' output by hand (see the README there).
"""

from pathlib import Path

import pytest

REPORTS = Path(__file__).parent / "junit_reports"

PYTEST_STEPS = [
    ("test_calc::test_adds", "passed", None),
    ("test_calc::test_subtracts", "failed", "AssertionError: subtraction is off"),
    ("test_calc::test_on_gpu", "skipped", "needs a GPU"),
    ("test_calc::test_rounding", "skipped", "known rounding bug"),
    ("test_calc::test_loads", "error", 'failed on setup with "RuntimeError: dataset missing"'),
    ("test_calc::test_prints", "passed", None),
]

# file: (steps as (name, status, a part of the message or None), results, run duration)
EXPECTED = {
    "pytest-xunit1.xml": (PYTEST_STEPS, (2, 1, 2, 1), 0.253),
    "pytest-xunit2.xml": (PYTEST_STEPS, (2, 1, 2, 1), 0.097),
    "surefire.xml": (
        [
            ("com.example.CalculatorTest::addsTwoNumbers", "passed", None),
            ("com.example.CalculatorTest::subtracts", "failed", "expected: <2> but was: <4>"),
            ("com.example.CalculatorTest::flakyCache", "passed", "passed on a rerun after: "),
            ("com.example.CalculatorTest::dividesByZero", "error", "/ by zero"),
            ("com.example.CalculatorTest::multiplies", "skipped", "not implemented yet"),
        ],
        (2, 1, 1, 1),
        0.012,
    ),
    "gradle.xml": (
        [
            ("com.example.CalculatorTest::addsTwoNumbers()", "passed", None),
            ("com.example.CalculatorTest::subtracts()", "failed", "expected: <2> but was: <4>"),
            ("com.example.CalculatorTest::dividesByZero()", "failed", "/ by zero"),
            ("com.example.CalculatorTest::multiplies()", "skipped", None),
            ("com.example.CalculatorTest::[1] 2, 3", "passed", None),
        ],
        (2, 2, 1, 0),
        0.045,
    ),
    "jest-junit.xml": (
        [
            ("Calculator adds two numbers", "passed", None),
            ("Calculator subtracts", "failed", "Expected: 2\nReceived: 4"),
            ("Calculator multiplies", "skipped", None),
            ("Calculator divides by zero", "skipped", None),
            ("Calculator rounding rounds half up", "passed", None),
            (
                "Test suite failed to run::__tests__/parser.test.js",
                "error",
                "Cannot find module '../src/tokenizer'",
            ),
        ],
        (2, 1, 2, 1),
        1.532,
    ),
    "go-junit-report.xml": (
        [
            ("example.com/calc::TestAdd", "passed", None),
            ("example.com/calc::TestSubtract", "failed", "Failed\n\ncalc_test.go:15: Subtract"),
            ("example.com/calc::TestMultiply", "skipped", "Skipped\n\ncalc_test.go:20: not impl"),
            ("example.com/calc::TestDivide", "passed", None),
            ("example.com/calc::TestDivide/by_zero", "passed", None),
            ("example.com/calc/parser::[build failed]", "error", "Build error\n\nparser/parser"),
        ],
        (3, 1, 1, 1),
        0.004,
    ),
    "go-junit-report-v1.xml": (
        [
            ("calc::TestAdd", "passed", None),
            ("calc::TestSubtract", "failed", "Failed\n\ncalc_test.go:15: Subtract(3, 1) = 4"),
            ("calc::TestMultiply", "skipped", "calc_test.go:20: not implemented"),
        ],
        (1, 1, 1, 0),
        0.004,
    ),
    "node-test.xml": (
        [
            ("test::adds two numbers", "passed", None),
            ("test::subtracts", "failed", "Expected values to be strictly equal:"),
            ("test::multiplies", "skipped", "true"),
            ("test::divides by zero", "skipped", "true"),
            ("test::rounds half to even", "passed", None),
        ],
        (2, 1, 2, 0),
        0.005713 + 0.015606,  # the top-level case and suite: <testsuites> has no time
    ),
    "ctest.xml": (
        [
            ("adds", "passed", None),
            ("subtracts", "failed", "expected 1, got 2"),  # its output: the failure is empty
            ("needs_gpu", "skipped", "SKIP_RETURN_CODE=77"),
            ("not_built", "skipped", "Unable to find executable"),
            ("slow_disabled", "skipped", "Disabled"),  # status="disabled", no <skipped>
            ("times_out", "failed", None),
        ],
        (1, 2, 3, 0),
        1.0,
    ),
}


def _import(client, name, query="model_name=calc"):
    return client.post(
        f"/api/test/db/import/junit?{query}",
        data=(REPORTS / name).read_bytes(),
        content_type="application/xml",
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_runners_report_keeps_every_test_as_a_step(client, name):
    expected_steps, (passed, failed, skipped, errors), duration = EXPECTED[name]
    response = _import(client, name)
    assert response.status_code == 201, response.json
    run = response.json
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        (step_name, status) for step_name, status, _ in expected_steps
    ]
    for step, (_, _, part) in zip(run["steps"], expected_steps, strict=True):
        if part is None and step["status"] == "passed":
            assert step["message"] is None, step
        elif part is not None:
            assert part in step["message"], step
    assert run["results"] == {
        "tests_passed": passed,
        "tests_failed": failed,
        "tests_skipped": skipped,
        "tests_errors": errors,
    }
    assert run["status"] == ("failed" if failed or errors else "completed")
    assert run["duration"] == pytest.approx(duration)
    assert client.get(f"/api/test/db/run/{run['run_id']}").json["steps"] == run["steps"]


def test_step_durations_come_from_each_testcase(client):
    steps = _import(client, "ctest.xml").json["steps"]
    assert [s["duration"] for s in steps] == pytest.approx(
        [0.00354046, 0.00363567, 0.0122265, 0.0, 0.0, 1.00806]
    )


def test_a_failure_keeps_both_its_message_and_its_trace(client):
    steps = {s["name"]: s for s in _import(client, "pytest-xunit2.xml").json["steps"]}
    message = steps["test_calc::test_subtracts"]["message"]
    assert message.startswith("AssertionError: subtraction is off\nassert (3 - 1) == 1\n\n")
    assert "test_calc.py:10: AssertionError" in message


def test_a_trace_that_repeats_the_message_is_kept_once(client):
    steps = {s["name"]: s for s in _import(client, "gradle.xml").json["steps"]}
    message = steps["com.example.CalculatorTest::dividesByZero()"]["message"]
    assert message.count("java.lang.ArithmeticException: / by zero") == 1


def test_a_surefire_rerun_failure_stays_failed_and_a_flaky_pass_passes(client):
    steps = {s["name"].split("::")[1]: s for s in _import(client, "surefire.xml").json["steps"]}
    assert steps["subtracts"]["status"] == "failed"
    assert steps["flakyCache"]["status"] == "passed"
    assert "cache warmed up ==> expected: <2> but was: <1>" in steps["flakyCache"]["message"]


def test_report_properties_become_metrics_and_clipped_tags(client):
    go = _import(client, "go-junit-report.xml").json
    assert go["tags"]["go.version"] == "go1.22.2 linux/amd64"
    surefire = _import(client, "surefire.xml").json
    assert surefire["tags"]["java.version"] == "17.0.15"
    assert surefire["metrics"]["java.class.version"]["value"] == 61.0
    # a class path runs past a tag's 512 characters: kept, clipped, not refused
    assert len(surefire["tags"]["java.class.path"]) == 512


def test_the_run_starts_at_the_earliest_suite_timestamp(client):
    jest = _import(client, "jest-junit.xml").json
    assert jest["started_at"].startswith("2024-05-01T10:15:30")  # naive: taken as UTC
    assert jest["completed_at"].startswith("2024-05-01T10:15:31.532")
    go = _import(client, "go-junit-report.xml").json
    assert go["started_at"].startswith("2024-05-01T10:15:30")
