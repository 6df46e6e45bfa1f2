"""Several series of one model read together (``/histories``), and the series key that finds
a series' runs, on a real DuckDB file with answers known ahead."""

import orjson

from tests.benchmark.test_series_api import BASE, _run
from unified_api_server.components.benchmark.series import series_key

CPU = {"model_name": "many", "hardware": "cpu", "batch_size": 1, "precision": "fp32"}
CUDA = {"model_name": "many", "hardware": "cuda:0", "batch_size": 8, "precision": "fp16"}
TPU = {"model_name": "many", "hardware": "tpu", "batch_size": 1, "precision": "bf16"}


def _plant(client):
    """30 cpu runs with a spike, 12 cuda runs, 5 tpu runs with no latency, another model's."""
    cpu = [_run(client, i, **CPU, latency_ms_mean=100.0 + i % 3 + (60 if i == 20 else 0))
           for i in range(30)]  # fmt: skip
    for i in range(12):
        _run(client, i, **CUDA, latency_ms_mean=10.0 + i % 2)
    for i in range(5):
        _run(client, i, **TPU, throughput=50.0)
    _run(client, 0, model_name="other", latency_ms_mean=1.0)
    return cpu


def _histories(client, **args):
    return client.get(f"{BASE}/histories", query_string={"model_name": "many", **args})


def test_each_series_is_what_history_answers_for_it(client):
    cpu = _plant(client)
    short = {"hardware": "cuda:0", "window": 5, "z": 2.0}
    assert client.put(f"{BASE}/thresholds", json=short).status_code == 200
    assert client.post(f"{BASE}/run/{cpu[10]}/distribution-change").status_code in (200, 201)
    args = {"metric": "latency_ms_mean", "include": "verdicts,samples", "points": 10}
    answer = _histories(client, **args)
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["model_name"], body["metric"], body["configurations"]) == (
        "many", "latency_ms_mean", 3)  # fmt: skip
    found = [s["series"]["hardware"] for s in body["series"]]
    assert found == ["cpu", "cuda:0", "tpu"]  # the most runs first
    for series, configuration in zip(body["series"], (CPU, CUDA, TPU)):
        alone = client.get(f"{BASE}/history", query_string={**configuration, **args}).json
        assert series == alone
    cpu_body, cuda_body, tpu_body = body["series"]
    assert (cpu_body["window"], cuda_body["window"], cuda_body["z_threshold"]) == (20, 5, 2.0)
    assert cpu_body["count"] == 30 and cpu_body["downsampled"] and len(cpu_body["points"]) <= 10
    assert cpu[20] in [p["run_id"] for p in cpu_body["points"]]  # the spike is kept
    assert [j["run_id"] for j in cpu_body["judged"]] == [cpu[20]]
    assert cuda_body["count"] == 12 and tpu_body["count"] == 0 and tpu_body["points"] == []


def test_the_grammar_chooses_the_configurations_and_series_caps_them(client):
    _plant(client)
    metric = {"metric": "latency_ms_mean"}
    fp16 = _histories(client, precision="fp16", **metric).json
    assert [s["series"]["hardware"] for s in fp16["series"]] == ["cuda:0"]
    assert fp16["series"][0]["count"] == 12
    most = _histories(client, series=1, **metric).json
    assert most["configurations"] == 3 and [s["count"] for s in most["series"]] == [30]
    not_cpu = _histories(client, hardware__ne="cpu", **metric).json
    assert sorted(s["series"]["hardware"] for s in not_cpu["series"]) == ["cuda:0", "tpu"]
    later = _histories(client, since="2026-01-01T00:20:00Z", **metric).json
    assert [s["count"] for s in later["series"]] == [10]  # cpu's runs 20-29 alone
    none = _histories(client, hardware="gpu", **metric).json
    assert none["configurations"] == 0 and none["series"] == []


def test_bad_input_is_named(client):
    _plant(client)
    missing = client.get(f"{BASE}/histories", query_string={"metric": "throughput"})
    assert missing.status_code == 400 and "model_name" in missing.json["error"]["message"]
    no_metric = _histories(client)
    assert no_metric.status_code == 400 and "metric" in no_metric.json["error"]["message"]
    for args, named in (
        ({"series": 0}, "series"),
        ({"colour": "red"}, "colour"),
        ({"metric": "colour"}, "colour"),
        ({"points": 1}, "points"),
        ({"include": "everything"}, "include"),
        ({"fields": "run_id,colour"}, "colour"),
    ):
        answer = _histories(client, **{"metric": "throughput", **args})
        assert answer.status_code == 400 and named in answer.json["error"]["message"], args


def test_fields_keeps_those_of_each_point_and_judged_still_comes(client):
    """A chart asks for what it draws: the points as in the full answer, less the rest."""
    cpu = _plant(client)
    args = {"metric": "latency_ms_mean", "include": "verdicts", "points": 10}
    full = _histories(client, **args).json["series"]
    kept = ("run_id", "started_at", "value", "outlier")
    trimmed = _histories(client, fields="outlier,run_id,value,started_at", **args)
    assert trimmed.status_code == 200, trimmed.json
    for whole, part in zip(full, trimmed.json["series"]):
        assert [list(p) for p in part["points"]] == [list(kept)] * len(whole["points"])
        assert part["points"] == [{k: p[k] for k in kept} for p in whole["points"]]
        assert part["judged"] == whole["judged"]  # regressions listed without each verdict
    assert [j["run_id"] for j in trimmed.json["series"][0]["judged"]] == [cpu[20]]
    assert any(p["verdict"] for p in full[0]["points"])  # it was there to leave out
    one = client.get(f"{BASE}/history", query_string={**CPU, **args, "fields": "verdict,value"})
    assert one.status_code == 200, one.json
    assert [p for p in one.json["points"]] == [
        {"value": p["value"], "verdict": p["verdict"]} for p in full[0]["points"]
    ]


def _stored_keys(client):
    database = client.application.extensions["component"].database
    found = database.run_write(
        lambda cur: cur.execute(
            "SELECT model_name, hardware, batch_size, precision, series_key FROM benchmark_runs"
        ).fetchall()
    )
    return {row[:4]: row[4] for row in found}


def test_every_way_in_keys_a_run_by_its_configuration_as_stored(client):
    _run(client, 0, model_name="één", hardware="cpu")  # the defaults: batch 1, fp32
    rows = [{"model_name": "bulk", "hardware": "cuda:0", "batch_size": 4, "precision": "int8",
             "status": "completed", "started_at": "2026-01-01T00:00:00Z"},
            {"model_name": "bulk", "hardware": "cpu", "status": "completed",
             "started_at": "2026-01-01T00:00:00Z"}]  # fmt: skip
    answer = client.post(
        f"{BASE}/runs/bulk",
        data=b"\n".join(orjson.dumps(row) for row in rows),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code in (200, 201), answer.json
    stored = _stored_keys(client)
    assert set(stored) == {("één", "cpu", 1, "fp32"), ("bulk", "cuda:0", 4, "int8"),
                           ("bulk", "cpu", 1, "fp32")}  # fmt: skip
    for parts, key in stored.items():
        configuration = dict(zip(("model_name", "hardware", "batch_size", "precision"), parts))
        assert key == series_key(configuration)
    assert series_key({**CPU, "precision": None}) != series_key(CPU)
