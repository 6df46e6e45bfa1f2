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
    passes = steps["test_passes"]["name"]
    assert run["metrics"][f"{passes}::latency_ms"]["value"] == 12.5
    assert run["tags"][f"{passes}::device"] == "cpu"
    assert run["duration"] >= 0


def test_the_same_devices_in_any_order_are_the_same_run(client, junit_report):
    first = client.post(
        "/api/test/db/import/junit?model_name=m&hardware=cuda,cpu", data=junit_report
    )
    again = client.post(
        "/api/test/db/import/junit?model_name=m&hardware=cpu&hardware=cuda", data=junit_report
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["run_id"] == again.get_json()["run_id"]


def test_importing_the_same_report_with_a_run_id_is_idempotent(client, junit_report):
    url = "/api/test/db/import/junit?model_name=m&run_id=nightly-1"
    assert client.post(url, data=junit_report).status_code == 201
    assert client.post(url, data=junit_report).status_code == 200
    assert client.get("/api/test/db/runs").json["count"] == 1


def test_a_client_run_id_with_another_report_is_a_conflict(client, junit_report):
    url = "/api/test/db/import/junit?model_name=m&run_id=nightly-1"
    assert client.post(url, data=junit_report).status_code == 201
    other = b'<testsuite timestamp="2024-01-01T00:00:00Z"><testcase name="a"/></testsuite>'
    assert client.post(url, data=other).status_code == 409
    assert client.get("/api/test/db/runs").json["count"] == 1


NO_TIMESTAMP = b'<testsuite name="s" time="0.5"><testcase name="a" time="0.5"/></testsuite>'


@pytest.mark.parametrize("with_timestamp", [True, False])
def test_importing_the_same_report_again_gives_the_same_run(client, junit_report, with_timestamp):
    report = junit_report if with_timestamp else NO_TIMESTAMP
    url = "/api/test/db/import/junit?model_name=m&hardware=cpu"
    first = client.post(url, data=report)
    again = client.post(url, data=report)
    assert (first.status_code, again.status_code) == (201, 200), again.json
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert client.get("/api/test/db/runs").json["count"] == 1


def test_a_report_without_a_timestamp_keeps_its_client_run_id_idempotent(client):
    url = "/api/test/db/import/junit?model_name=m&run_id=nightly-2"
    assert client.post(url, data=NO_TIMESTAMP).status_code == 201
    again = client.post(url, data=NO_TIMESTAMP)
    assert again.status_code == 200 and again.json["run_id"] == "nightly-2"


@pytest.mark.parametrize(
    "query, report",
    [
        ("model_name=other", NO_TIMESTAMP),
        ("model_name=m&hardware=cuda", NO_TIMESTAMP),
        ("model_name=m&test_type=nightly", NO_TIMESTAMP),
        ("model_name=m", NO_TIMESTAMP.replace(b'name="a"', b'name="b"')),
    ],
)
def test_another_report_or_parameter_is_a_new_run(client, query, report):
    first = client.post("/api/test/db/import/junit?model_name=m", data=NO_TIMESTAMP)
    other = client.post(f"/api/test/db/import/junit?{query}", data=report)
    assert (first.status_code, other.status_code) == (201, 201), other.json
    assert other.json["run_id"] != first.json["run_id"]
    assert client.get("/api/test/db/runs").json["count"] == 2


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


NESTED = b"<testsuite>" * 40 + b'<testcase name="deep"/>' + b"</testsuite>" * 40


@pytest.mark.parametrize(
    "body, message",
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<testsuite><testcase name="&x;"/></testsuite>',
            "XML refused",
        ),
        (
            b'<!DOCTYPE l [<!ENTITY l0 "lol"><!ENTITY l1 "&l0;&l0;&l0;&l0;&l0;&l0;">'
            b'<!ENTITY l2 "&l1;&l1;&l1;&l1;&l1;&l1;">]><testsuites>&l2;</testsuites>',
            "XML refused",
        ),
        (b"<testsuites><testsuite></testsuites>", "not well-formed XML"),
        (b"\xff\xfe<testsuite/>", "not well-formed XML"),
        (b"<testrun><testcase name='a'/></testrun>", "root element is <testrun>"),
        (b'<testsuites><testcase name="a" time="-1"/></testsuites>', "testcase 'a' time"),
        (b'<testsuites><testcase name="a" time="soon"/></testsuites>', "testcase 'a' time"),
        (b'<testsuite><testcase name="a" time="inf"/></testsuite>', "testcase 'a' time"),
        (b'<testsuite><testcase name="a" time="1e300"/></testsuite>', "testcase 'a' time"),
        (b'<testsuites time="-0.5"><testsuite/></testsuites>', "testsuites time"),
        (b'<testsuite timestamp="yesterday"><testcase/></testsuite>', "timestamp"),
        (b'<testsuites><testsuite timestamp="99999-01-01"/></testsuites>', "timestamp"),
        (NESTED, "nested deeper than 32"),
    ],
)
def test_hostile_or_absurd_reports_are_a_400_and_store_nothing(client, junit_report, body, message):
    client.post("/api/test/db/import/junit?model_name=m", data=junit_report)
    response = client.post("/api/test/db/import/junit?model_name=m", data=body)
    assert response.status_code == 400, response.json
    assert message in response.json["error"]["message"]
    assert client.get("/api/test/db/runs").json["count"] == 1


def test_long_names_and_messages_are_clipped_not_refused(client):
    body = (
        f'<testsuite><testcase name="{"n" * 2000}"><failure message="{"m" * 70000}"/>'
        "</testcase></testsuite>"
    ).encode()
    response = client.post("/api/test/db/import/junit?model_name=m", data=body)
    assert response.status_code == 201, response.json
    step = response.json["steps"][0]
    assert len(step["name"]) == 512 and len(step["message"]) == 65536


def test_junit_import_needs_a_model_and_known_parameters(client, junit_report):
    assert client.post("/api/test/db/import/junit", data=junit_report).status_code == 400
    response = client.post("/api/test/db/import/junit?model_name=m&modle=x", data=junit_report)
    assert response.status_code == 400 and "modle" in response.json["error"]["message"]
