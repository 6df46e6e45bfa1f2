"""Every stored run judged against its series' history: series with planted known answers."""

import orjson
import pytest

BASE = "/api/benchmark/db"
NOISE = (1.0, 1.01, 0.99, 1.005, 0.995)  # within 10%: never a verdict
STEP_AT = 8  # runs 0..7 steady, run 8 onwards doubled


def run_body(model, index, **figures):
    """Return a run of ``model``'s one configuration, started ``index`` minutes in."""
    return {
        "model_name": model,
        "hardware": "cpu",
        "batch_size": 1,
        "precision": "fp32",
        "started_at": f"2025-01-01T00:{index:02d}:00+00:00",
        **figures,
    }


def series(model, count=10, step=2.0, **named):
    """Return ``count`` runs: latency and throughput steady with noise, times ``step`` from
    STEP_AT on; each named metric ``name=lower_is_better`` likewise."""
    bodies = []
    for i in range(count):
        factor = NOISE[i % len(NOISE)] * (step if i >= STEP_AT else 1.0)
        metrics = {n: {"value": 5.0 * factor, "lower_is_better": low} for n, low in named.items()}
        bodies.append(
            run_body(
                model, i, latency_ms_mean=10.0 * factor, throughput=100.0 * factor, metrics=metrics
            )
        )
    return bodies


def store(client, bodies):
    """Create each run in turn; return their details."""
    found = []
    for body in bodies:
        response = client.post(f"{BASE}/runs", json=body)
        assert response.status_code == 201, response.get_json()
        found.append(response.get_json())
    return found


def verdicts(runs, metric):
    """Return the verdict of ``metric`` of each run, in order."""
    return [run["analysis"][metric]["verdict"] for run in runs]


def test_a_latency_step_is_a_regression_at_the_step_and_throughput_up_an_improvement(client):
    runs = store(client, series("step"))
    assert verdicts(runs, "latency_ms_mean") == ["no_baseline"] * 5 + ["ok"] * 3 + [
        "regression",
        "ok",  # the window now holds the step: its spread keeps z under 3
    ]
    assert verdicts(runs, "throughput")[STEP_AT] == "improvement"
    assert set(verdicts(runs, "throughput")[:STEP_AT]) == {"no_baseline", "ok"}
    step = runs[STEP_AT]["analysis"]["latency_ms_mean"]
    assert step["window_n"] == STEP_AT and step["baseline"] == pytest.approx(10.0, rel=0.01)
    assert step["change"] == pytest.approx(1.0, rel=0.02) and step["z"] > 3
    detail = client.get(f"{BASE}/run/{runs[STEP_AT]['run_id']}").get_json()
    assert detail["analysis"] == runs[STEP_AT]["analysis"]


def test_noise_within_thresholds_stays_ok_and_the_first_runs_have_no_baseline(client):
    runs = store(client, series("steady", count=12, step=1.0))
    assert verdicts(runs, "latency_ms_mean") == ["no_baseline"] * 5 + ["ok"] * 7
    assert runs[0]["analysis"]["latency_ms_mean"]["baseline"] is None


def test_named_metrics_follow_their_own_direction(client):
    runs = store(client, series("named", worse=True, better=False, unknown=None))
    step = runs[STEP_AT]["analysis"]
    assert (step["worse"]["verdict"], step["better"]["verdict"]) == ("regression", "improvement")
    assert step["unknown"]["verdict"] == "ok" and step["unknown"]["change"] > 0.9


def test_lists_filter_by_verdict(client):
    runs = store(client, series("filtered"))
    for flag in ("regression", "improvement"):
        listed = client.get(f"{BASE}/runs", query_string={flag: "true", "model_name": "filtered"})
        assert [r["run_id"] for r in listed.get_json()["runs"]] == [runs[STEP_AT]["run_id"]]
    others = client.get(f"{BASE}/runs", query_string={"regression": "false", "limit": 1000})
    assert len(others.get_json()["runs"]) == len(runs) - 1
    refused = client.get(f"{BASE}/runs?regression=maybe")
    assert refused.status_code == 400 and "regression" in refused.get_json()["error"]["message"]


def test_a_distribution_change_resets_the_window(client):
    runs = store(client, series("moved", count=STEP_AT + 1))
    marked = client.post(f"{BASE}/run/{runs[STEP_AT]['run_id']}/distribution-change")
    assert marked.status_code == 201 and marked.get_json()["metric"] is None
    again = client.post(f"{BASE}/run/{runs[STEP_AT]['run_id']}/distribution-change")
    assert again.status_code == 200
    after = store(client, [run_body("moved", 20 + i, latency_ms_mean=20.0) for i in range(5)])
    assert [r["analysis"]["latency_ms_mean"]["window_n"] for r in after] == [1, 2, 3, 4, 5]
    assert verdicts(after, "latency_ms_mean") == ["no_baseline"] * 4 + ["ok"]
    stored = client.get(f"{BASE}/run/{runs[STEP_AT]['run_id']}").get_json()["analysis"]
    assert stored["latency_ms_mean"]["verdict"] == "regression"  # judged before the mark
    assert client.post(f"{BASE}/run/nope/distribution-change").status_code == 404


def test_a_distribution_change_of_one_metric_leaves_the_others(client):
    runs = store(client, series("one", count=STEP_AT + 1))
    mark = {"metric": "throughput"}
    response = client.post(f"{BASE}/run/{runs[STEP_AT]['run_id']}/distribution-change", json=mark)
    assert response.status_code == 201
    (after,) = store(client, [run_body("one", 30, latency_ms_mean=20.0, throughput=200.0)])
    assert after["analysis"]["throughput"]["window_n"] == 1
    assert after["analysis"]["latency_ms_mean"]["window_n"] == STEP_AT + 1
    unknown = client.post(
        f"{BASE}/run/{runs[0]['run_id']}/distribution-change", json={"metric": "x"}
    )
    assert unknown.status_code == 400


def test_thresholds_per_selector_change_the_outcome(client):
    loose = {"model_name": "loose", "metric": "latency_ms_mean", "percent": 150}
    assert client.put(f"{BASE}/thresholds", json=loose).status_code == 200
    assert (
        client.put(f"{BASE}/thresholds", json={"model_name": "loose", "percent": 1}).status_code
        == 200
    )
    short = {"model_name": "short", "window": 3, "min_points": 2}
    assert client.put(f"{BASE}/thresholds", json=short).status_code == 200
    loose_runs = store(client, series("loose"))
    assert verdicts(loose_runs, "latency_ms_mean")[STEP_AT] == "ok"  # the metric's own wins
    assert verdicts(loose_runs, "throughput")[STEP_AT] == "improvement"
    short_runs = store(client, series("short"))
    assert [r["analysis"]["latency_ms_mean"]["window_n"] for r in short_runs[:5]] == [0, 1, 2, 3, 3]
    assert verdicts(short_runs, "latency_ms_mean")[:3] == ["no_baseline", "no_baseline", "ok"]
    listed = client.get(f"{BASE}/thresholds").get_json()
    assert listed["defaults"] == {"percent": 10.0, "z": 3.0, "window": 20, "min_points": 5}
    assert listed["thresholds"][0]["selector"]["metric"] == "latency_ms_mean"
    gone = client.delete(f"{BASE}/thresholds", query_string={"model_name": "short"})
    assert gone.status_code == 200
    assert client.delete(f"{BASE}/thresholds?model_name=short").status_code == 404


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"percent": 0}, "percent"),
        ({"z": -1}, "z"),
        ({"window": 1}, "window"),
        ({"window": 1001}, "window"),
        ({"window": 5, "min_points": 6}, "min_points"),
        ({"min_points": 0}, "min_points"),
        ({"metric": "no_such_metric"}, "metric"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_thresholds_are_refused_naming_them(client, body, named):
    response = client.put(f"{BASE}/thresholds", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert named in (error.get("details") or {}) or named in error["message"]


def bulk(client, rows, table="runs"):
    """Bulk-load ``rows`` (NDJSON) into ``table``."""
    response = client.post(
        f"{BASE}/runs/bulk?table={table}",
        data=b"\n".join(orjson.dumps(r) for r in rows),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 201, response.get_json()
    response.close()


def test_bulk_loaded_runs_are_judged_as_created_ones_and_their_metrics_on_arrival(client):
    created = store(client, series("single", worse=True))
    bodies = series("bulked", worse=True)
    rows = [{k: v for k, v in b.items() if k != "metrics"} for b in bodies]
    for i, row in enumerate(rows):
        row["run_id"] = f"bulked-{i}"
    bulk(client, rows[:4])
    bulk(client, rows[4:])  # a second load is judged against the first
    metrics = [
        {"run_id": f"bulked-{i}", "name": "worse", **b["metrics"]["worse"]}
        for i, b in enumerate(bodies)
    ]
    bulk(client, metrics, table="metrics")
    loaded = [client.get(f"{BASE}/run/bulked-{i}").get_json() for i in range(len(rows))]
    for metric in ("latency_ms_mean", "throughput", "worse"):
        assert verdicts(loaded, metric) == verdicts(created, metric)


def test_a_patch_of_the_figures_judges_them_again(client):
    runs = store(client, series("patched", count=STEP_AT))
    (pending,) = store(client, [run_body("patched", 40, status="running")])
    assert pending["analysis"] == {}
    done = client.patch(
        f"{BASE}/run/{pending['run_id']}", json={"status": "completed", "latency_ms_mean": 30.0}
    )
    assert done.get_json()["analysis"]["latency_ms_mean"]["verdict"] == "regression"
    assert len(runs) == STEP_AT


def test_metrics_added_later_are_judged_once_each(client):
    """Adding named metrics to a run again and again keeps one verdict per metric."""
    (run,) = store(client, [run_body("later-metrics", 0, latency_ms_mean=10.0)])
    run_id = run["run_id"]
    for name in ("acc", "f1", "recall"):
        response = client.post(f"{BASE}/run/{run_id}/metrics", json={name: {"value": 0.5}})
        assert response.status_code == 201, response.get_json()
    analysis = client.get(f"{BASE}/run/{run_id}").get_json()["analysis"]
    state = client.application.extensions["component"]
    with state.database.cursor() as cursor:
        (rows,) = cursor.execute(
            "SELECT count(*) FROM benchmark_verdicts WHERE run_id = ?", [run_id]
        ).fetchone()
    assert rows == len(analysis) and {"acc", "f1", "recall"} <= set(analysis)
