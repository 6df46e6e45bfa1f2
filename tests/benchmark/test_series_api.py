"""History and compare of benchmark series on a real DuckDB file, with answers known ahead."""

import orjson
import pytest

BASE = "/api/benchmark/db"
SERIES = {"model_name": "m", "hardware": "cpu", "batch_size": 1, "precision": "fp32"}


def _run(client, minute, day=1, **fields):
    body = {
        **SERIES,
        "status": "completed",
        "started_at": f"2026-01-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00Z",
        **fields,
    }
    answer = client.post(f"{BASE}/runs", json=body)
    assert answer.status_code == 201, answer.json
    return answer.json["run_id"]


def _history(client, **args):
    return client.get(f"{BASE}/history", query_string={**SERIES, **args})


def test_a_planted_outlier_is_flagged_and_only_it(client):
    ids = [
        _run(client, i, latency_ms_mean=100.0 + (i % 3) + (40.0 if i == 25 else 0.0))
        for i in range(30)
    ]
    answer = _history(client, metric="latency_ms_mean", window=10)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["count"] == 30 and not body["downsampled"] and body["window"] == 10
    assert body["series"]["lower_is_better"] is True
    flagged = [p["run_id"] for p in body["points"] if p["outlier"]]
    assert flagged == [ids[25]]
    spike = body["points"][25]
    window = [100.0 + (i % 3) for i in range(15, 25)]  # the 10 points before it
    assert spike["mean"] == pytest.approx(sum(window) / 10)
    assert spike["z"] > 3
    assert body["points"][0]["mean"] is None and body["points"][0]["outlier"] is False


def test_downsampling_keeps_the_lowest_and_the_highest_point(client):
    values = [50.0 + (i * 37) % 23 for i in range(200)]
    values[77], values[140] = 1.0, 999.0
    ids = [_run(client, i, throughput=v) for i, v in enumerate(values)]
    body = _history(client, metric="throughput", points=10).json
    assert body["count"] == 200 and body["downsampled"] and len(body["points"]) <= 10
    kept = [p["run_id"] for p in body["points"]]
    assert ids[77] in kept and ids[140] in kept
    assert kept == sorted(kept, key=ids.index)  # still in time order


def test_since_and_until_choose_the_points_but_not_their_window(client):
    for i in range(10):
        _run(client, i, memory_mb=float(i))
    body = _history(
        client, metric="memory_mb", since="2026-01-01T00:05:00Z", until="2026-01-01T00:08:00Z"
    ).json
    assert [p["value"] for p in body["points"]] == [5.0, 6.0, 7.0]
    assert body["points"][0]["mean"] == pytest.approx(2.0)  # points 0-4, before since


def test_a_named_metric_is_a_series_too_and_bad_input_is_named(client):
    _run(client, 0, metrics={"accuracy": {"value": 0.9, "lower_is_better": False}})
    body = _history(client, metric="accuracy").json
    assert body["series"]["lower_is_better"] is False and body["points"][0]["value"] == 0.9
    unknown = _history(client, metric="colour")
    assert unknown.status_code == 400 and "colour" in unknown.json["error"]["message"]
    missing = client.get(f"{BASE}/history", query_string={"model_name": "m", "metric": "x"})
    assert missing.status_code == 400 and "hardware" in missing.json["error"]["message"]
    assert _history(client, metric="throughput", points=1).status_code == 400
    assert _history(client, metric="throughput", shape="round").status_code == 400
    empty = _history(client, metric="latency_ms_p99", model_name="none")
    assert empty.status_code == 200 and empty.json["points"] == [] and empty.json["count"] == 0


def test_samples_of_an_imported_pytest_benchmark_report_come_back(client):
    rounds = [0.0010, 0.0012, 0.0011, 0.0030]
    stats = {"min": 0.001, "max": 0.003, "mean": 0.0016, "stddev": 0.0009, "median": 0.00115}
    stats.update(iqr=0.0005, ops=625.0, rounds=4, total=0.0063, data=rounds)
    report = {"datetime": "2026-02-01T00:00:00Z", "benchmarks": [{"name": "b", "stats": stats}]}
    imported = client.post(
        f"{BASE}/import/pytest-benchmark",
        data=orjson.dumps(report),
        query_string={"model_name": "m"},
        content_type="application/json",
    )
    assert imported.status_code == 201, imported.json
    body = _history(client, metric="latency_ms_mean", include="samples").json
    [point] = body["points"]
    assert point["samples"] == pytest.approx([r * 1000 for r in rounds])
    assert "samples" not in _history(client, metric="latency_ms_mean").json["points"][0]


def test_verdicts_come_along_and_downsampling_never_drops_a_regression(client):
    values = [100.0 + (i % 3) for i in range(20)]
    values[10], values[15] = 150.0, 50.0  # lower is better: a regression, then an improvement
    ids = [_run(client, i, latency_ms_mean=v) for i, v in enumerate(values)]
    body = _history(client, metric="latency_ms_mean", include="verdicts").json
    assert [p["verdict"] for p in body["points"][:5]] == ["no_baseline"] * 5
    assert body["points"][10]["verdict"] == "regression"
    judged = [(j["run_id"], j["verdict"], j["value"]) for j in body["judged"]]
    assert judged == [(ids[10], "regression", 150.0), (ids[15], "improvement", 50.0)]
    few = _history(client, metric="latency_ms_mean", include="samples,verdicts", points=2).json
    assert few["downsampled"] and len(few["points"]) <= 2
    assert [j["run_id"] for j in few["judged"]] == [ids[10], ids[15]]
    later = _history(client, metric="latency_ms_mean", include="verdicts", since=_at(12)).json
    assert [j["run_id"] for j in later["judged"]] == [ids[15]]
    bad = _history(client, metric="latency_ms_mean", include="verdicts,colour")
    assert bad.status_code == 400 and "colour" in bad.json["error"]["message"]


def _at(minute):
    return f"2026-01-01T00:{minute:02d}:00Z"


def _batch(client, batch_id, runs):
    assert client.post(f"{BASE}/batches", json={"batch_id": batch_id}).status_code == 201
    return [_run(client, i, day=2 if batch_id == "after" else 1, batch_id=batch_id, **r)
            for i, r in enumerate(runs)]  # fmt: skip


def test_compare_two_batches_pairs_configurations_and_knows_direction(client):
    same = {"hardware": "cpu", "batch_size": 1}
    _batch(
        client,
        "before",
        [
            {**same, "latency_ms_mean": 100.0, "throughput": 10.0, "memory_mb": 50.0},
            {"hardware": "cuda:0", "latency_ms_mean": 5.0},
        ],
    )
    _batch(
        client,
        "after",
        [
            {**same, "latency_ms_mean": 120.0, "throughput": 12.0, "memory_mb": 51.0},
            {"hardware": "cpu", "batch_size": 8, "latency_ms_mean": 9.0},
        ],
    )
    answer = client.get(
        f"{BASE}/compare", query_string={"baseline": "before", "contender": "after"}
    )
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["baseline"]["kind"] == "batch" and body["contender"]["runs"] == 2
    [pair] = body["pairs"]
    metrics = pair["metrics"]
    assert metrics["latency_ms_mean"]["verdict"] == "regression"  # slower is worse
    assert metrics["latency_ms_mean"]["change_percent"] == pytest.approx(20.0)
    assert metrics["throughput"]["verdict"] == "improvement"  # more is better
    assert metrics["memory_mb"]["verdict"] == "ok"  # +2% is within 10%
    assert body["counts"] == {"pairs": 1, "regression": 1, "improvement": 1, "ok": 1}
    assert [r["hardware"] for r in body["only_in_baseline"]] == ["cuda:0"]
    assert [r["batch_size"] for r in body["only_in_contender"]] == [8]


def test_compare_two_runs_and_unknown_ids(client):
    first = _run(client, 0, latency_ms_p50=10.0)
    second = _run(client, 1, latency_ms_p50=5.0)
    body = client.get(f"{BASE}/compare?baseline={first}&contender={second}").json
    assert body["baseline"]["kind"] == "run"
    assert body["pairs"][0]["metrics"]["latency_ms_p50"]["verdict"] == "improvement"
    unknown = client.get(f"{BASE}/compare?baseline={first}&contender=nowhere")
    assert unknown.status_code == 404 and "nowhere" in unknown.json["error"]["message"]
    assert client.get(f"{BASE}/compare?baseline={first}").status_code == 400


def test_compare_one_model_across_devices_takes_each_latest_completed_run(client):
    _run(client, 0, hardware="cpu", latency_ms_mean=100.0)
    _run(client, 1, hardware="cpu", latency_ms_mean=80.0)  # the latest on cpu
    _run(client, 2, hardware="cuda:0", latency_ms_mean=8.0)
    _run(client, 3, hardware="cuda:0", status="failed")  # not completed: not compared
    _run(client, 4, hardware="cuda:0", batch_size=8, latency_ms_mean=20.0)
    answer = client.get(f"{BASE}/compare?model_name=m&hardware=cpu,cuda:0")
    assert answer.status_code == 200, answer.json
    body = answer.json
    [pair] = body["pairs"]
    assert pair["configuration"] == {"model_name": "m", "batch_size": 1, "precision": "fp32"}
    latency = pair["metrics"]["latency_ms_mean"]
    assert (latency["baseline"], latency["contender"], latency["verdict"]) == (
        80.0,
        8.0,
        "improvement",
    )
    assert [r["batch_size"] for r in body["only_in_contender"]] == [8]
    assert client.get(f"{BASE}/compare?model_name=m&hardware=cpu").status_code == 400
    assert client.get(f"{BASE}/compare?model_name=m").status_code == 400
