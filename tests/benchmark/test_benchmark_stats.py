"""Benchmark statistics (per configuration, model and device) against hand-computed values."""

import orjson
import pytest

from tests.stats_support import quantile
from unified_api_server.components.benchmark.figures import lower_is_better

BASE = "/api/benchmark/db"
# (model, hardware, batch_size, precision, status, latency_ms_mean, throughput, memory_mb)
RUNS = [
    ("bert", "cpu", 1, "fp32", "completed", 10.0, 100.0, 400.0),
    ("bert", "cpu", 1, "fp32", "completed", 12.0, 90.0, 420.0),
    ("bert", "cpu", 1, "fp32", "completed", 11.0, 95.0, 410.0),
    ("bert", "cpu", 1, "fp32", "failed", None, None, None),
    ("bert", "cpu", 8, "fp32", "completed", 40.0, 200.0, 900.0),
    ("bert", "cuda", 8, "fp16", "completed", 2.0, 4000.0, 1500.0),
    ("bert", "cuda", 8, "fp16", "completed", 3.0, 3500.0, 1550.0),
    ("bert", "cuda", 8, "fp16", "completed", 2.5, 3800.0, 1525.0),
    ("bert", "cuda", 8, "fp16", "completed", 9.0, 1000.0, 1600.0),
    ("gpt2", "cuda", 1, "bf16", "completed", 20.0, 50.0, 3000.0),
    ("gpt2", "cuda", 1, "bf16", "timeout", None, None, None),
]
CONFIGURATION = ("model_name", "hardware", "batch_size", "precision")


@pytest.fixture
def seeded(client):
    """Store the runs above through the bulk path (the fast, flat one)."""
    rows = []
    for i, (
        model,
        hardware,
        batch_size,
        precision,
        status,
        latency,
        throughput,
        memory,
    ) in enumerate(RUNS):
        row = {
            "model_name": model,
            "hardware": hardware,
            "batch_size": batch_size,
            "precision": precision,
            "status": status,
            "duration": float(i + 1),
            "started_at": f"2026-04-{1 + i % 3:02d}T10:00:00+00:00",
            "latency_ms_mean": latency,
            "throughput": throughput,
            "memory_mb": memory,
            "parameters": {"sequence_length": 128},
        }
        rows.append({k: v for k, v in row.items() if v is not None})
    response = client.post(f"{BASE}/runs/bulk", data=b"\n".join(orjson.dumps(r) for r in rows))
    assert response.get_json() == {"stored": len(RUNS)}
    return client


def _expected(runs):
    latencies = [r[5] for r in runs if r[5] is not None]
    throughputs = [r[6] for r in runs if r[6] is not None]
    memory = [r[7] for r in runs if r[7] is not None]
    finished = [r for r in runs if r[4] != "running"]
    completed = sum(1 for r in runs if r[4] == "completed")
    return {
        "total_runs": len(runs),
        "completed_runs": completed,
        "failed_runs": sum(1 for r in runs if r[4] == "failed"),
        "success_rate": round(completed / len(finished), 6),
        "latency_ms_mean": sum(latencies) / len(latencies) if latencies else None,
        "latency_ms_p50": quantile(latencies, 0.5) if latencies else None,
        "latency_ms_p90": quantile(latencies, 0.9) if latencies else None,
        "latency_ms_p99": quantile(latencies, 0.99) if latencies else None,
        "throughput_mean": sum(throughputs) / len(throughputs) if throughputs else None,
        "memory_mb_peak": max(memory) if memory else None,
    }


def _check(row, expected):
    for key, value in expected.items():
        assert row[key] == pytest.approx(value), key


def test_configuration_stats(seeded):
    """Per model x hardware x batch size x precision: count, latency percentiles, etc."""
    body = seeded.get(f"{BASE}/stats").get_json()
    assert body["group_by"] == list(CONFIGURATION)
    groups = {tuple(g[k] for k in CONFIGURATION): g for g in body["groups"]}
    assert set(groups) == {r[:4] for r in RUNS}
    for key, row in groups.items():
        _check(row, _expected([r for r in RUNS if r[:4] == key]))
    # The p90/p99 of the cuda group interpolate between its two largest latencies.
    assert groups[("bert", "cuda", 8, "fp16")]["latency_ms_p99"] == pytest.approx(8.82)


def test_model_and_hardware_stats_carry_the_figures(seeded):
    """The generic per-model and per-device statistics get the benchmark figures too."""
    models = {r["model_name"]: r for r in seeded.get(f"{BASE}/models/stats").get_json()["models"]}
    assert set(models) == {r[0] for r in RUNS}
    for model, row in models.items():
        _check(row, _expected([r for r in RUNS if r[0] == model]))
    devices = {
        r["hardware"]: r for r in seeded.get(f"{BASE}/hardware/stats").get_json()["hardware"]
    }
    assert set(devices) == {r[1] for r in RUNS}
    for device, row in devices.items():
        _check(row, _expected([r for r in RUNS if r[1] == device]))


@pytest.mark.parametrize(
    "query, keep",
    [
        ({"batch_size": "8"}, lambda r: r[2] == 8),
        ({"precision": "fp16"}, lambda r: r[3] == "fp16"),
        ({"hardware": "cuda", "model_name": "bert"}, lambda r: r[1] == "cuda" and r[0] == "bert"),
        ({"status": "completed", "batch_size": ["1", "8"]}, lambda r: r[4] == "completed"),
    ],
)
def test_filters_reach_the_grouped_stats(seeded, query, keep):
    """Every accepted filter narrows the grouped statistics."""
    groups = seeded.get(f"{BASE}/stats", query_string=query).get_json()["groups"]
    kept = [r for r in RUNS if keep(r)]
    assert sum(g["total_runs"] for g in groups) == len(kept)
    for group in groups:
        key = tuple(group[k] for k in CONFIGURATION)
        _check(group, _expected([r for r in kept if r[:4] == key]))


def test_tag_batch_and_time_filters(seeded):
    """Tag, batch and time-range filters apply to the grouped statistics."""
    batch = seeded.post(f"{BASE}/batches", json={"name": "sweep"}).get_json()["batch_id"]
    seeded.post(
        f"{BASE}/runs",
        json={
            "model_name": "t5",
            "hardware": "cpu",
            "batch_id": batch,
            "latency_ms_mean": 5.0,
            "tags": {"sweep": "a"},
        },
    )
    for query in ({"tag": "sweep:a"}, {"batch_id": batch}):
        groups = seeded.get(f"{BASE}/stats", query_string=query).get_json()["groups"]
        assert [(g["model_name"], g["total_runs"]) for g in groups] == [("t5", 1)]
    window = {"since": "2026-04-02T00:00:00Z", "until": "2026-04-03T00:00:00Z"}
    groups = seeded.get(f"{BASE}/stats", query_string=window).get_json()["groups"]
    assert sum(g["total_runs"] for g in groups) == sum(1 for i in range(len(RUNS)) if i % 3 == 1)
    assert seeded.get(f"{BASE}/stats?precision=fp13").status_code == 400
    assert seeded.get(f"{BASE}/stats?batch_size=big").status_code == 400


def test_performance_has_trends_and_latest(seeded):
    """Daily trends and the latest runs, newest first."""
    body = seeded.get(f"{BASE}/performance?days=3650").get_json()
    assert [d["total_runs"] for d in body["daily_stats"]] == [4, 4, 3]
    latest = body["latest_runs"]
    assert len(latest) == 10 and latest[0]["started_at"] >= latest[-1]["started_at"]


def test_metric_direction_defaults_from_name_and_unit(client):
    """lower_is_better: latency and memory lower, throughput higher, unknown None, explicit kept."""
    run = client.post(
        f"{BASE}/runs",
        json={
            "model_name": "bert",
            "hardware": "cuda",
            "batch_size": 4,
            "precision": "int8",
            "metrics": {
                "latency_p99": {"value": 3.1, "unit": "ms"},
                "throughput": {"value": 900.0, "unit": "items/s"},
                "peak_memory": {"value": 700.0, "unit": "MB"},
                "wall": {"value": 1.0, "unit": "s"},
                "accuracy": {"value": 0.91},
                "rounds": {"value": 5.0},
                "custom": {"value": 1.0, "lower_is_better": True},
            },
            "hardware_metrics": {
                "gpu_utilization": {"value": 87.5, "unit": "%"},
                "power": {"value": 250.0, "unit": "W"},
            },
            "model_metrics": {
                "parameters": {"value": 110e6, "unit": "count"},
                "load_time": {"value": 1.4, "unit": "s"},
            },
        },
    ).get_json()
    directions = {name: m["lower_is_better"] for name, m in run["metrics"].items()}
    assert directions == {
        "latency_p99": True,
        "throughput": False,
        "peak_memory": True,
        "wall": True,
        "accuracy": False,
        "rounds": None,
        "custom": True,
    }
    assert run["hardware_metrics"]["gpu_utilization"] == {"value": 87.5, "unit": "%"}
    assert run["model_metrics"]["parameters"]["value"] == 110e6
    added = client.post(
        f"{BASE}/run/{run['run_id']}/metrics", json={"tokens_per_second": {"value": 50.0}}
    ).get_json()
    assert added["metrics"]["tokens_per_second"]["lower_is_better"] is False
    assert lower_is_better("stops") is None and lower_is_better("ops") is False


@pytest.mark.parametrize(
    "change, field",
    [
        ({"hardware": ["cpu", "cuda"]}, "hardware"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"precision": "fp13"}, "precision"),
        ({"parameters": [128]}, "parameters"),
        ({"latency_ms_p99": -1.0}, "latency_ms_p99"),
        ({"metrics": {"latency": {"value": 1.0, "lower_is_better": "yes"}}}, "metrics"),
    ],
)
def test_benchmark_fields_are_validated(client, change, field):
    """One device per run, a positive batch size, a known precision, object parameters."""
    body = {"model_name": "bert", "hardware": "cpu", **change}
    response = client.post(f"{BASE}/runs", json=body)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]
