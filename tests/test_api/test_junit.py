"""JUnit XML import: a report written by really running pytest becomes one run."""

import subprocess
import sys
import textwrap

import pytest

SAMPLE_TESTS = textwrap.dedent("""
    import pytest

    def test_passes(record_property):
        record_property("latency_ms", 12.5)
        record_property("device", "cpu")

    def test_fails():
        assert 1 == 2, "outputs differ"

    @pytest.mark.skip(reason="needs a GPU")
    def test_skipped():
        pass

    @pytest.fixture
    def broken():
        raise RuntimeError("fixture broke")

    def test_errors(broken):
        pass
""")


@pytest.fixture(scope="module")
def junit_report(tmp_path_factory):
    """Run pytest on a small module and return the JUnit XML it wrote."""
    folder = tmp_path_factory.mktemp("junit")
    (folder / "test_sample.py").write_text(SAMPLE_TESTS)
    report = folder / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            str(folder / "test_sample.py"),
        ],
        cwd=folder,
        capture_output=True,
        check=False,
    )
    return report.read_bytes()


def test_pytest_report_becomes_one_run_with_a_step_per_test_case(client, junit_report):
    response = client.post(
        "/api/test/db/import/junit?model_name=bert-base-uncased&hardware=cpu,cuda"
        "&test_type=comprehensive",
        data=junit_report,
        content_type="application/xml",
    )
    assert response.status_code == 201, response.json
    run = response.json
    assert response.headers["Location"] == f"/api/test/db/run/{run['run_id']}"
    assert run["model_name"] == "bert-base-uncased"
    assert run["hardware"] == ["cpu", "cuda"]
    assert run["test_type"] == "comprehensive"
    assert run["status"] == "failed"
    assert run["results"] == {
        "tests_passed": 1,
        "tests_failed": 1,
        "tests_skipped": 1,
        "tests_errors": 1,
    }
    steps = {s["name"].split("::")[-1]: s for s in run["steps"]}
    assert {n: s["status"] for n, s in steps.items()} == {
        "test_passes": "passed",
        "test_fails": "failed",
        "test_skipped": "skipped",
        "test_errors": "error",
    }
    assert "outputs differ" in steps["test_fails"]["message"]
    assert run["metrics"]["latency_ms"]["value"] == 12.5
    assert run["tags"]["device"] == "cpu"
    assert run["duration"] >= 0


def test_importing_the_same_report_with_a_run_id_is_idempotent(client, junit_report):
    url = "/api/test/db/import/junit?model_name=m&run_id=nightly-1"
    assert client.post(url, data=junit_report).status_code == 201
    assert client.post(url, data=junit_report).status_code == 200
    assert client.get("/api/test/db/runs").json["count"] == 1


@pytest.mark.parametrize(
    "body, message",
    [
        (b"<html><body>hi</body></html>", "not a JUnit report"),
        (b"<testsuite><testcase", "not well-formed XML"),
        (b"", "request body required"),
        (
            b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><testsuite>&b;</testsuite>',
            "XML refused",
        ),
        (b'<testsuite time="nan"><testcase name="a"/></testsuite>', "testsuite time"),
        (b'<testsuite time="1e400"><testcase name="a"/></testsuite>', "testsuite time"),
        (b'<testsuite time="1e300"><testcase name="a"/></testsuite>', "testsuite time"),
        (
            b'<testsuite timestamp="9999-12-31T23:59:59-14:00"><testcase name="a"/></testsuite>',
            "years 1 to 9999",
        ),
        (
            b'<testsuite timestamp="9999-12-31T23:59:00Z" time="3600"><testcase/></testsuite>',
            "after the year 9999",
        ),
    ],
)
def test_a_body_that_is_not_a_junit_report_is_a_400(client, body, message):
    response = client.post("/api/test/db/import/junit?model_name=m", data=body)
    assert response.status_code == 400
    assert message in response.json["error"]["message"]
    assert client.get("/api/test/db/runs").json["count"] == 0


def test_junit_import_needs_a_model_and_known_parameters(client, junit_report):
    assert client.post("/api/test/db/import/junit", data=junit_report).status_code == 400
    response = client.post("/api/test/db/import/junit?model_name=m&modle=x", data=junit_report)
    assert response.status_code == 400 and "modle" in response.json["error"]["message"]
