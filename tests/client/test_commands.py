"""``upload`` and ``export`` against a live gateway: what they store, write and say."""

import csv
import io
import json
import uuid

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.support import dead_url
from unified_api_server.client import Client, ClientError
from unified_api_server.tools.transfer import export, upload


def invoke(command, *args, env=None):
    """Invoke ``command`` in-process with ``args``; return the click Result."""
    return CliRunner().invoke(command, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def model():
    """Return a model name no other test stores."""
    return f"cli-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def uploaded(reports, gateway, keys, model):
    """Upload the sample JUnit and pytest-benchmark reports once; return the summaries."""
    env = {"UAS_URL": gateway.url, "UAS_API_KEY": keys["rw"]}
    junit = invoke(upload, "junit", reports["junit"], "--model", model, "--hardware", "cpu,cuda",
                   "--test-type", "ci", env=env)  # fmt: skip
    bench = invoke(upload, "pytest-benchmark", reports["benchmark"], "--model", model, env=env)
    assert junit.exit_code == 0, junit.output
    assert bench.exit_code == 0, bench.output
    return {"junit": junit.output, "benchmark": bench.output}


def test_upload_junit_stores_one_run_and_says_so(uploaded, gateway, keys, model):
    with Client(gateway.url, keys["read"]) as client:
        (run,) = client.list("test", model_name=model)
        run = client.get("test", run["run_id"])
    assert uploaded["junit"] == (
        f"test run {run['run_id']} (failed): 2 passed, 1 failed, 1 skipped, 1 errors\n"
    )
    assert run["hardware"] == ["cpu", "cuda"] and run["test_type"] == "ci"
    assert len(run["steps"]) == 5


def test_upload_pytest_benchmark_stores_each_benchmark(uploaded, gateway, keys, model):
    with Client(gateway.url, keys["read"]) as client:
        (run,) = client.list("benchmark", model_name=model)
        run = client.get("benchmark", run["run_id"])
    assert uploaded["benchmark"] == f"1 benchmark runs (1 new): {run['run_id']}\n"
    assert run["metrics"]["rounds"]["value"] == 5


def test_uploading_a_report_again_stores_nothing_new(uploaded, reports, uas_env, model):
    again = invoke(upload, "pytest-benchmark", reports["benchmark"], "--model", model)
    assert again.exit_code == 0 and "(0 new)" in again.output


def _rows(path, fmt):
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    if fmt == "ndjson":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if fmt == "json":
        return json.loads(path.read_text())
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet", "json"])
def test_export_writes_every_format_readable(uploaded, uas_env, tmp_path, model, fmt):
    out = tmp_path / f"runs.{fmt}"
    result = invoke(export, "test", "--format", fmt, "-o", out, "--filter", f"model_name={model}")
    assert result.exit_code == 0, result.output
    rows = _rows(out, fmt)
    assert [row["model_name"] for row in rows] == [model]
    counted = "1 rows, " if fmt != "json" else ""
    assert result.output == f"wrote {counted}{out.stat().st_size} bytes to {out}\n"
    assert not out.with_name(out.name + ".part").exists()


def test_export_filters_repeat_and_reach_child_tables(uploaded, uas_env, tmp_path, model):
    out = tmp_path / "steps.csv"
    result = invoke(
        export, "test", "-o", out, "--filter", f"model_name={model}", "--filter", "model_name=none",
        "--filter", "table=steps",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    statuses = sorted(row["status"] for row in _rows(out, "csv"))
    assert statuses == ["error", "failed", "passed", "passed", "skipped"]


def test_a_bad_key_exits_non_zero_with_the_servers_message(reports, gateway, tmp_path):
    env = {"UAS_URL": gateway.url, "UAS_API_KEY": "uas_not-a-key"}
    said = gateway.get("/api/test/db/runs", headers={"X-API-Key": "uas_not-a-key"}).json()
    result = invoke(upload, "junit", reports["junit"], "--model", "m", env=env)
    assert result.exit_code == 1
    assert result.output == f"Error: 401 unauthorized: {said['error']['message']}\n"
    out = tmp_path / "runs.csv"
    result = invoke(export, "test", "-o", out, env=env)
    assert result.exit_code == 1 and "401 unauthorized" in result.output
    assert not out.exists() and not out.with_name("runs.csv.part").exists()


def test_a_bad_request_exits_with_the_servers_message_and_details(uas_env, tmp_path):
    result = invoke(export, "test", "-o", tmp_path / "x.csv", "--filter", "modle=gpt2")
    assert result.exit_code == 1
    assert result.output.startswith("Error: 400 bad_request: ")
    assert "modle" in result.output and "Traceback" not in result.output


def test_an_unreachable_gateway_is_a_message_not_a_traceback(reports):
    url = dead_url()
    result = invoke(upload, "junit", reports["junit"], "--model", "m", "--url", url)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot reach {url}: ")


def test_the_client_walks_every_page(uploaded, gateway, keys, model):
    with Client(gateway.url, keys["rw"]) as client:
        for index in range(3):
            client.create_run(
                "test", {"model_name": model + "-paged", "run_id": f"{model}-{index}"}
            )
        found = list(client.list("test", model_name=model + "-paged", limit=1))
    assert sorted(run["run_id"] for run in found) == [f"{model}-{i}" for i in range(3)]


def test_the_client_raises_the_servers_error(gateway, keys):
    with Client(gateway.url, keys["rw"]) as client, pytest.raises(ClientError) as raised:
        client.create_run("test", {"model_name": "m", "status": "exploded"})
    assert raised.value.status == 400 and raised.value.code == "bad_request"
    assert "status" in json.dumps(raised.value.details)


def test_the_client_streams_an_export_into_any_file_object(uploaded, gateway, keys, model):
    sink = io.BytesIO()
    with Client(gateway.url, keys["read"]) as client:
        written = client.export("benchmark", "ndjson", sink, model_name=model)
    assert written == len(sink.getvalue()) > 0
    assert json.loads(sink.getvalue().splitlines()[0])["model_name"] == model
