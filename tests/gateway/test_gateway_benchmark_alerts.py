"""A benchmark regression raises an alert through the gateway, the next run judged ok resolves
it by itself, and the model view carries the model's latest verdicts."""

from tests.benchmark.test_regressions import STEP_AT, series
from tests.gateway.conftest import client


def _alerts(api, **params):
    answer = api.call("GET", "/api/benchmark/db/alerts", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["alerts"]


def test_a_regression_raises_one_alert_per_series_and_recovery_resolves_it(gateway, keys):
    """A latency step raises one ``regression`` (throughput's step is an improvement: none);
    the run after it is judged ok and resolves it; the verdicts are in the model view."""
    api = client(gateway, keys["rw"])
    bodies = series("alerting-bench")
    for body in bodies[: STEP_AT + 1]:
        assert api.call("POST", "/api/benchmark/db/runs", json=body).status_code == 201
    (alert,) = _alerts(api, model_name="alerting-bench")
    assert (alert["kind"], alert["metric"], alert["state"]) == (
        "regression",
        "latency_ms_mean",
        "active",
    )
    assert alert["details"]["verdict"] == "regression" and "latency_ms_mean" in alert["message"]
    merged = api.call("GET", "/api/db/alerts", params={"model_name": "alerting-bench"}).json()
    assert [a["alert_id"] for a in merged["alerts"]] == [alert["alert_id"]]
    view = api.call("GET", "/api/db/model/alerting-bench").json()
    assert [a["alert_id"] for a in view["active_alerts"]] == [alert["alert_id"]]
    latest = {v["metric"]: v["verdict"] for v in view["latest_verdicts"]}
    assert latest == {"latency_ms_mean": "regression", "throughput": "improvement"}
    assert api.call("POST", "/api/benchmark/db/runs", json=bodies[STEP_AT + 1]).status_code == 201
    (alert,) = _alerts(api, model_name="alerting-bench")
    assert (alert["state"], alert["resolved_by"]) == ("resolved", "auto")
    assert api.call("GET", "/api/benchmark/db/verdicts").status_code == 400
