"""Jobs through the gateway: generate, run live, cancel, time out, benchmark, bad input."""

import ast
import importlib.util
import os

import pytest

from tests.jobs.conftest import close_frame, process_gone, read_pids, receive_json

FINAL = ("completed", "failed", "cancelled", "timeout")


def test_generate_a_module_then_run_its_tests(api):
    """A generated module is real: the Test Suite runs it and stores each test as a step."""
    created = api.post(
        "/api/generator/model", {"model_name": "prajjwal1/bert-tiny", "hardware": ["cpu"]}
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["status"] == "initializing" and task["architecture"] == "encoder-only"
    done = api.wait("generator", task["task_id"])
    assert done["status"] == "completed", done
    source = api.get(f"/api/generator/file/{task['task_id']}")
    assert source.status_code == 200 and "MODEL_NAME = 'prajjwal1/bert-tiny'" in source.text
    ast.parse(source.text)
    stored = api.get(f"/api/db/generator/task/{task['task_id']}").json()
    assert [s["name"] for s in stored["steps"]] == ["render", "check syntax", "write file", "done"]

    run = api.post(
        "/api/test/run",
        {
            "model_name": "prajjwal1/bert-tiny",
            "hardware": ["cpu"],
            "test_type": "basic",
            "timeout": 120,
        },
    ).json()
    assert run["status"] == "initializing" and run["started_at"]
    result = api.wait("test", run["run_id"])
    assert result["status"] == "completed", result
    detail = api.get(f"/api/db/test/run/{run['run_id']}").json()
    totals = detail["results"]
    assert len(detail["steps"]) == 3 and totals["tests_failed"] == totals["tests_errors"] == 0
    if importlib.util.find_spec("torch") and importlib.util.find_spec("transformers"):
        assert totals["tests_passed"] == 3, detail
        assert detail["metrics"]["forward_ms"]["value"] > 0
        assert detail["metrics"]["forward_ms"]["unit"] == "ms"
    else:  # without the torch extra the model tests skip, saying how to install it
        assert totals == {
            "tests_passed": 1,
            "tests_failed": 0,
            "tests_skipped": 2,
            "tests_errors": 0,
        }
        skipped = [s for s in detail["steps"] if s["status"] == "skipped"]
        assert all("pip install" in s["message"] for s in skipped)


def test_each_step_arrives_live_over_the_job_socket(api):
    """Watching a run: a status on connect, then one push per finished test, in order."""
    run = api.post("/api/test/run", {"model_name": "slow-model"}).json()
    ws = api.socket(f"/api/test/ws/{run['run_id']}")
    try:
        seen = [receive_json(ws)]
        while seen[-1]["status"] not in FINAL:
            seen.append(receive_json(ws))
        ws.send("ping")
        assert receive_json(ws) == {"pong": True}
        ws.send("status")
        assert receive_json(ws)["status"] == "completed"
    finally:
        ws.close()
    assert seen[0]["run_id"] == run["run_id"]
    steps = [s["current_step"] for s in seen if s["status"] == "running"]
    for index in range(4):
        assert f"test_step[{index}]: passed" in steps
    progress = [s["progress"] for s in seen if s["status"] == "running"]
    assert progress == sorted(progress) and 0.2 <= progress[steps.index("test_step[0]: passed")] < 1
    live = [s for s in seen if s["status"] == "running" and 0 < s["progress"] < 1]
    assert all(s["estimated_remaining_time"] is not None for s in live)
    final = api.get(f"/api/test/results/{run['run_id']}").json()
    assert final["results"] == {
        "tests_passed": 4,
        "tests_failed": 1,
        "tests_skipped": 0,
        "tests_errors": 0,
    }
    assert final["metrics"]["step_ms"] == {"value": 400.0, "unit": "ms"}
    failed = [s for s in final["steps"] if s["status"] == "failed"]
    assert failed[0]["name"] == "test_fails" and "assert" in failed[0]["message"]


def test_cancel_kills_the_run_and_its_children(api, jobs_dir):
    """Cancel ends the run 'cancelled' and kills pytest and what its test started."""
    pids_file = jobs_dir / "tests" / "hang.pids"
    pids_file.unlink(missing_ok=True)
    run = api.post("/api/test/run", {"model_name": "hang-model", "timeout": 300}).json()
    pids = read_pids(pids_file)
    ws = api.socket(f"/api/test/ws/{run['run_id']}")
    try:
        assert receive_json(ws)["status"] == "running"
        ws.send("cancel")
        answer = receive_json(ws)
        while "cancelled" not in answer:
            answer = receive_json(ws)
        assert answer["cancelled"] is True
    finally:
        ws.close()
    status = api.wait("test", run["run_id"])
    assert status["status"] == "cancelled" and "cancelled" in status["error"]
    assert all(process_gone(pid) for pid in pids), pids
    again = api.post(f"/api/test/cancel/{run['run_id']}")
    assert again.status_code == 409


def test_timeout_kills_the_run(api, jobs_dir):
    """A run past its timeout ends 'timeout' with its processes gone."""
    pids_file = jobs_dir / "tests" / "hang.pids"
    pids_file.unlink(missing_ok=True)
    run = api.post("/api/test/run", {"model_name": "hang-model", "timeout": 4}).json()
    pids = read_pids(pids_file)
    status = api.wait("test", run["run_id"], timeout=30)
    assert status["status"] == "timeout" and "timed out after 4 s" in status["error"]
    assert all(process_gone(pid) for pid in pids), pids
    assert status["elapsed_time"] >= 4


def test_cancel_over_http(api, jobs_dir):
    """POST /api/test/cancel/{id} stops a running run."""
    pids_file = jobs_dir / "tests" / "hang.pids"
    pids_file.unlink(missing_ok=True)
    run = api.post("/api/test/run", {"model_name": "hang-model"}).json()
    pids = read_pids(pids_file)
    answer = api.post(f"/api/test/cancel/{run['run_id']}")
    assert answer.status_code == 200 and answer.json()["cancelled"] == [run["run_id"]]
    assert api.wait("test", run["run_id"])["status"] == "cancelled"
    assert all(process_gone(pid) for pid in pids)


def test_benchmark_a_tiny_model_on_cpu(api):
    """A tiny PyTorch model is measured on the CPU; cuda without a GPU fails with the reason."""
    pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[torch]'")
    started = api.post(
        "/api/benchmark/run",
        {
            "models": ["bert-base-uncased"],
            "hardware": ["cpu", "cuda"],
            "batch_sizes": [2],
            "precision": "fp32",
            "iterations": 5,
            "warmup": 1,
            "sequence_length": 16,
            "model_size": "tiny",
        },
    )
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    status = api.wait("benchmark", run_id, timeout=120)
    assert status["completed_models"] == status["total_models"] == 2
    assert status["failed_models"] == 1 and "cuda" in status["error"]
    runs = api.get(f"/api/db/benchmark/runs?batch_id={run_id}").json()["runs"]
    by_device = {r["hardware"]: r for r in runs}
    assert by_device["cuda"]["status"] == "failed"
    assert "no CUDA device" in by_device["cuda"]["error"]
    cpu = api.get(f"/api/db/benchmark/run/{by_device['cpu']['run_id']}").json()
    assert cpu["status"] == "completed" and cpu["batch_size"] == 2
    assert 0 < cpu["latency_ms_p50"] <= cpu["latency_ms_p99"]
    assert cpu["throughput"] > 0 and cpu["memory_mb"] > 0
    assert cpu["metrics"]["latency_ms_min"]["unit"] == "ms"
    assert cpu["model_metrics"]["parameters"]["value"] > 0
    query = api.get("/api/benchmark/query?model=bert-base-uncased&hardware=cpu").json()
    assert by_device["cpu"]["run_id"] in [r["run_id"] for r in query["runs"]]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"model_name": "mystery-net"}, "architecture family"),
        ({"model_name": "../../etc/passwd"}, "model_name"),
        ({"model_name": "bert-base-uncased", "output_dir": "../outside"}, "output_dir"),
        ({"model_name": "bert-base-uncased", "output_dir": "/tmp"}, "output_dir"),
        ({"model_name": "bert-base-uncased", "template_type": "lstm"}, "template_type"),
        ({"model_name": "bert-base-uncased", "template_context": {"code": "import os"}}, "unknown"),
    ],
)
def test_generator_rejects_bad_input(api, body, field):
    """Bad generator input is a 400 naming the problem; nothing is written."""
    answer = api.post("/api/generator/model", body)
    assert answer.status_code == 400, answer.text
    assert field in answer.text


def test_unknown_family_with_template_type_is_accepted(api):
    """An unknown name with an explicit template_type renders that family's template."""
    answer = api.post(
        "/api/generator/model",
        {"model_name": "acme/mystery-net", "template_type": "vit", "force": True},
    )
    assert answer.status_code == 201
    assert api.wait("generator", answer.json()["task_id"])["status"] == "completed"


@pytest.mark.parametrize(
    "path",
    [
        "/api/test/status/nope",
        "/api/test/results/nope",
        "/api/generator/status/nope",
        "/api/generator/file/nope",
        "/api/benchmark/status/nope",
        "/api/benchmark/results/nope",
    ],
)
def test_unknown_ids_are_404(api, path):
    """Unknown job ids answer 404 in the shared error shape."""
    answer = api.get(path)
    assert answer.status_code == 404 and answer.json()["error"]["status"] == 404


def test_unknown_id_over_websocket(api):
    """A socket for an unknown id gets an error message, then a close."""
    ws = api.socket("/api/test/ws/nope")
    try:
        assert "no run or batch 'nope'" in receive_json(ws)["error"]
        code, _ = close_frame(ws)
        assert code == 1008  # the component's close code, passed through the gateway
    finally:
        ws.close()


def test_bad_run_requests(api):
    """Bad test-run input: unknown type, no module, path-like names."""
    assert (
        api.post("/api/test/run", {"model_name": "slow-model", "test_type": "fuzz"}).status_code
        == 400
    )
    missing = api.post("/api/test/run", {"model_name": "no-such-model"})
    assert missing.status_code == 404 and "generate one" in missing.text
    assert api.post("/api/test/run", {"model_name": "../tests/x"}).status_code == 400
    assert api.post("/api/benchmark/run", {"precision": "fp7"}).status_code == 400
    assert api.post("/api/benchmark/run", {"models": ["mystery-net"]}).status_code == 400


def test_listings(api):
    """The listing endpoints answer what exists."""
    assert {t["name"] for t in api.get("/api/generator/templates").json()["templates"]} == {
        "bert",
        "gpt2",
        "t5",
        "vit",
        "whisper",
    }
    assert {t["name"] for t in api.get("/api/test/types").json()["types"]} == {
        "basic",
        "comprehensive",
        "fault_tolerance",
    }
    models = {m["model_name"] for m in api.get("/api/test/models").json()["models"]}
    assert "slow-model" in models
    cpu = api.get("/api/benchmark/hardware").json()["hardware"][0]
    assert cpu == {"name": "cpu", "available": True}
    assert os.path.basename(api.get("/api/generator/templates").json()["output_dir"])


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../etc/passwd", "/tmp"])
def test_a_task_result_never_tells_whether_a_path_outside_the_output_folder_exists(api, path):
    """``file_exists`` looks inside the generator's output folder only (it was an oracle)."""
    task = api.post(
        "/api/db/generator/tasks",
        {"model_name": "probe", "status": "completed", "output_file": path},
    ).json()
    result = api.get(f"/api/generator/result/{task['task_id']}").json()
    assert result["file_exists"] is False, result


@pytest.mark.parametrize("component", ["test", "generator", "benchmark"])
def test_a_batch_with_no_members_has_a_status(api, component):
    """A batch made through the database API, with no jobs in it: status, results and cancel
    answer (they were a 500)."""
    batch = f"empty-{component}"
    assert api.post(f"/api/db/{component}/batches", {"batch_id": batch}).status_code == 201
    results = "result" if component == "generator" else "results"
    for method, path in (
        ("GET", f"/api/{component}/status/{batch}"),
        ("GET", f"/api/{component}/{results}/{batch}"),
        ("POST", f"/api/{component}/cancel/{batch}"),
    ):
        answer = api.call(method, path)
        assert answer.status_code < 500, (path, answer.text)
    status = api.get(f"/api/{component}/status/{batch}").json()
    assert status["total_models"] == 0 and status["completed_at"] is None
