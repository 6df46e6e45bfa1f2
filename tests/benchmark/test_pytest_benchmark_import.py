"""Import of a report produced by really running pytest-benchmark on a tiny test module."""

import json
import subprocess
import sys

import pytest

from tests.stats_support import quantile

BASE = "/api/benchmark/db"
MODULE = """
import pytest


@pytest.mark.parametrize("size", [10, 1000])
def test_sum(benchmark, size):
    benchmark(sum, range(size))


def test_sorted(benchmark):
    benchmark.extra_info["items"] = 64
    benchmark(sorted, list(range(64, 0, -1)))
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Run pytest-benchmark in a subprocess and return its JSON report."""
    folder = tmp_path_factory.mktemp("bench")
    (folder / "test_tiny_bench.py").write_text(MODULE)
    out = folder / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_tiny_bench.py",
            f"--benchmark-json={out}",
            "--benchmark-min-rounds=5",
            "--benchmark-max-time=0.01",
            "--benchmark-warmup=off",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out.read_bytes()


def _import(client, data, **query):
    return client.post(
        f"{BASE}/import/pytest-benchmark",
        data=data,
        query_string=query,
        content_type="application/json",
    )


def test_each_benchmark_becomes_a_run(client, report):
    """One run per benchmark: its stats as metrics, machine info as hardware and tags."""
    parsed = json.loads(report)
    response = _import(client, report, model_name="toy", hardware="cpu", batch_size="4")
    assert response.status_code == 201
    body = response.get_json()
    assert body["count"] == body["created"] == 3
    runs = {r["tags"]["benchmark"]: r for r in body["runs"]}
    cpu = parsed["machine_info"]["cpu"]
    for bench in parsed["benchmarks"]:
        run, stats = runs[bench["fullname"]], bench["stats"]
        assert (run["model_name"], run["hardware"], run["batch_size"]) == ("toy", "cpu", 4)
        assert run["status"] == "completed" and run["parameters"] == {
            **(bench["params"] or {}),
            **bench["extra_info"],
        }
        for name in ("min", "max", "mean", "stddev", "median", "iqr", "ops", "rounds"):
            assert run["metrics"][name]["value"] == pytest.approx(stats[name]), name
        assert run["metrics"]["mean"] == {
            "value": pytest.approx(stats["mean"]),
            "unit": "s",
            "lower_is_better": True,
        }
        assert run["metrics"]["ops"]["lower_is_better"] is False
        assert run["latency_ms_mean"] == pytest.approx(stats["mean"] * 1000)
        assert run["latency_ms_p50"] == pytest.approx(stats["median"] * 1000)
        assert run["latency_ms_p90"] == pytest.approx(quantile(stats["data"], 0.9) * 1000)
        assert run["latency_ms_p99"] == pytest.approx(quantile(stats["data"], 0.99) * 1000)
        assert run["throughput"] == pytest.approx(stats["ops"] * 4)
        assert run["duration"] == pytest.approx(stats["total"])
        assert run["hardware_metrics"]["cpu_count"]["value"] == cpu["count"]
        assert run["tags"]["machine.node"] == parsed["machine_info"]["node"]
    stats = client.get(f"{BASE}/stats?model_name=toy").get_json()["groups"]
    assert [(g["hardware"], g["batch_size"], g["total_runs"]) for g in stats] == [("cpu", 4, 3)]


def test_reimport_is_idempotent(client, report):
    """Importing the same report again stores nothing new; other parameters conflict."""
    assert _import(client, report).status_code == 201
    again = _import(client, report)
    assert again.status_code == 200 and again.get_json()["created"] == 0
    assert client.get(f"{BASE}/runs").get_json()["count"] == 3
    assert _import(client, report, precision="fp16").status_code == 409


@pytest.mark.parametrize(
    "data, query",
    [
        (b"", {}),
        (b"{not json", {}),
        (b'{"benchmarks": []}', {}),
        (b'{"benchmarks": [{"name": "x", "stats": {"mean": "fast"}}]}', {}),
        (b"<testsuite/>", {}),
        (None, {"precision": "fp13"}),
        (None, {"batch_size": "0"}),
        (None, {"nope": "1"}),
    ],
)
def test_bad_reports_are_400(client, report, data, query):
    """What is not a pytest-benchmark report, or bad parameters, store nothing."""
    response = _import(client, report if data is None else data, **query)
    assert response.status_code == 400 and "error" in response.get_json()
    assert client.get(f"{BASE}/runs").get_json()["count"] == 0


def test_odd_but_harmless_fields_are_taken_in_stride(client, report):
    """params and extra_info that are not objects, a numeric fullname: stored, not a 500."""
    parsed = json.loads(report)
    for number, bench in enumerate(parsed["benchmarks"]):
        bench["params"], bench["extra_info"], bench["fullname"] = [1, 2], "x", number
    response = _import(client, json.dumps(parsed).encode())
    assert response.status_code == 201, response.get_json()
    runs = client.get(f"{BASE}/runs").get_json()["runs"]
    assert len(runs) == 3 and all(run["parameters"] == {} for run in runs)


@pytest.mark.parametrize("total", [1e300, float("nan")])
def test_a_total_time_no_calendar_holds_is_400(client, report, total):
    """A benchmark's total time that would end past the year 9999 (or is not a number)."""
    parsed = json.loads(report)
    parsed["benchmarks"][0]["stats"]["total"] = total
    response = _import(client, json.dumps(parsed).encode())
    assert response.status_code == 400, response.get_json()
    assert client.get(f"{BASE}/runs").get_json()["count"] == 0
