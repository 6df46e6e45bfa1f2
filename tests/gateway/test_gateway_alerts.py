"""Alerts through real processes: raised by a write, seen live on /api/db/ws and at webhook
receivers (one records, one fails twice, one hangs), acknowledged and resolved through the
gateway with scopes enforced, suppressed until an expiry, resolved by themselves."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.gateway.conftest import client, start_gateway
from tests.gateway.webhook_receivers import Receiver
from tests.support import NAMES, ServiceProcess, next_events, wait_until
from unified_api_server.gateway.relay import RelayClient


@pytest.fixture(scope="module")
def receivers():
    """Start the three webhook receivers."""
    found = {
        "good": Receiver().start(),
        "flaky": Receiver(failures=2).start(),
        "hung": Receiver(hang=True).start(),
    }
    yield found
    for receiver in found.values():
        receiver.stop()


@pytest.fixture(scope="module")
def alert_gateway(work_dir, components, keys_db, keys, receivers, tmp_path_factory):
    """A Test Suite posting alerts to the receivers, and a gateway in front of every component."""
    hooks = " ".join(r.url for r in receivers.values())
    args = ["--alert-webhooks", hooks, "--alert-webhook-backoff", "0.05"]
    args += ["--alert-webhook-timeout", "60", "--alert-failure-min-jobs", "3"]
    data_dir = tmp_path_factory.mktemp("alerts")
    suite = ServiceProcess.component("test", data_dir, extra_args=args).wait_ready()
    urls = {name: components[name].url for name in NAMES}
    urls["test"] = suite.url
    gateway = start_gateway(work_dir, urls, keys_db, label="alert-gateway", view_budget=5)
    yield gateway
    gateway.stop()
    suite.stop()


def _run(api, model, minute, outcomes, status="completed"):
    body = {
        "model_name": model,
        "hardware": ["gpu"],
        "status": status,
        "started_at": f"2024-05-01T10:{minute:02d}:00+00:00",
        "steps": [{"name": name, "status": outcome} for name, outcome in outcomes.items()],
    }
    answer = api.call("POST", "/api/test/db/runs", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["run_id"]


def _alerts(api, **params):
    answer = api.call("GET", "/api/test/db/alerts", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["alerts"]


def _alert_events(ws, count):
    """Return the next ``count`` alert events of a change stream (other events skipped)."""
    return next_events(ws, "alert", count)


def test_an_alert_lifecycle_is_seen_live_and_at_the_webhooks(alert_gateway, keys, receivers):
    """Raised by a newly failing test, acknowledged, then resolved by a passing run: each
    change on /api/db/ws and POSTed to the receivers; the read key cannot acknowledge."""
    api, reader = client(alert_gateway, keys["rw"]), client(alert_gateway, keys["read"])
    url = f"ws://127.0.0.1:{alert_gateway.port}/api/db/ws?model=alerted-model"
    ws = RelayClient.connect(url, headers={"X-API-Key": keys["read"]})
    try:
        assert json.loads(ws.receive(timeout=10))["type"] == "subscribed"
        _run(api, "alerted-model", 1, {"t_a": "passed", "t_b": "passed"})
        failing = _run(api, "alerted-model", 2, {"t_a": "failed", "t_b": "passed"})
        (raised,) = _alert_events(ws, 1)
        alert = raised["alert"]
        assert (raised["action"], raised["component"]) == ("raised", "test")
        assert (alert["kind"], alert["test_name"], alert["item_id"]) == (
            "test_failure",
            "t_a",
            failing,
        )
        path = f"/api/test/db/alert/{alert['alert_id']}"
        assert reader.call("POST", f"{path}/acknowledge").status_code == 403
        acknowledged = api.call("POST", f"{path}/acknowledge")
        assert acknowledged.status_code == 200
        assert acknowledged.json()["acknowledged_by"] == "t-rw"
        assert api.call("POST", f"{path}/acknowledge").status_code == 409
        assert _alert_events(ws, 1)[0]["action"] == "acknowledged"
        passing = _run(api, "alerted-model", 3, {"t_a": "passed", "t_b": "passed"})
        (resolved,) = _alert_events(ws, 1)
        assert resolved["action"] == "resolved"
        assert resolved["alert"]["resolved_by"] == "auto"
        assert resolved["alert"]["resolved_item_id"] == passing
        assert api.call("POST", f"{path}/resolve").status_code == 409
    finally:
        ws.close()
    wanted = ["raised", "acknowledged", "resolved"]
    good = receivers["good"]
    wait_until(lambda: good.actions(alert["alert_id"]) == wanted, message="three POSTs")
    body = next(b for b in good.bodies if b["alert"]["alert_id"] == alert["alert_id"])
    assert "t_a" in body["text"] and body["alert"]["component"] == "test"


def test_a_failing_receiver_is_retried_and_a_hung_one_never_holds_a_write(
    alert_gateway, keys, receivers
):
    """The flaky receiver's first two answers are 500: the deliveries log three attempts. The
    hung receiver holds its POST while writes still answer."""
    api = client(alert_gateway, keys["rw"])
    _run(api, "retried-model", 1, {"t_x": "passed"})
    _run(api, "retried-model", 2, {"t_x": "error"})
    (alert,) = _alerts(api, model_name="retried-model")
    flaky = receivers["flaky"]
    wait_until(lambda: "raised" in flaky.actions(alert["alert_id"]), message="the retried POST")
    deliveries = api.call(
        "GET", "/api/test/db/alerts/deliveries", params={"alert_id": alert["alert_id"]}
    ).json()["deliveries"]
    flaky_port = flaky.url.split(":")[2].split("/")[0]
    tried = [(d["attempt"], d["status_code"]) for d in deliveries if d["url"].endswith(flaky_port)]
    assert tried == [(1, 500), (2, 500), (3, 200)]
    assert all("/hook" not in d["url"] for d in deliveries)  # the origin only
    hung = receivers["hung"]
    assert hung.waiting.wait(20), "the hung receiver never got its POST"
    assert not hung.released.is_set()
    _run(api, "retried-model", 3, {"t_x": "passed"})  # answered while the receiver still hangs
    assert not hung.released.is_set()
    hung.release()


def test_a_suppressed_alert_is_recorded_but_not_pushed_until_the_suppression_expires(
    alert_gateway, keys, receivers
):
    """A suppression matching a test keeps its alert ``suppressed`` and off the webhooks; once
    it expires, the same series raises an active alert again."""
    api, reader = client(alert_gateway, keys["rw"]), client(alert_gateway, keys["read"])
    until = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    selector = {"model_name": "quiet-model", "test_name": "t_q", "until": until}
    assert reader.call("POST", "/api/test/db/suppressions", json=selector).status_code == 403
    made = api.call("POST", "/api/test/db/suppressions", json=selector)
    assert made.status_code == 201 and made.headers["Location"].endswith(
        made.json()["suppression_id"]
    )
    _run(api, "quiet-model", 1, {"t_q": "passed", "t_r": "passed"})
    _run(api, "quiet-model", 2, {"t_q": "failed", "t_r": "failed"})
    states = {a["test_name"]: a["state"] for a in _alerts(api, model_name="quiet-model")}
    assert states == {"t_q": "suppressed", "t_r": "active"}
    good = receivers["good"]
    loud = next(a for a in _alerts(api, model_name="quiet-model") if a["test_name"] == "t_r")
    wait_until(lambda: good.actions(loud["alert_id"]) == ["raised"], message="t_r's POST")
    assert not [b for b in good.bodies if b["alert"]["test_name"] == "t_q"]
    wait_until(
        lambda: not api.call("GET", "/api/test/db/suppressions").json()["suppressions"],
        message="the suppression's expiry",
    )
    expired = api.call("GET", "/api/test/db/suppressions", params={"include_expired": "true"})
    assert [s["test_name"] for s in expired.json()["suppressions"]] == ["t_q"]
    _run(api, "quiet-model", 3, {"t_q": "passed", "t_r": "passed"})  # both recover
    _run(api, "quiet-model", 4, {"t_q": "failed", "t_r": "passed"})
    active = _alerts(api, model_name="quiet-model", state="active")
    assert [a["test_name"] for a in active] == ["t_q"]


def test_a_test_still_failing_when_its_suppression_expires_is_raised_again(
    alert_gateway, keys, receivers
):
    """A suppressed newly failing test that still fails when the suppression expires becomes
    active: ``raised`` arrives live and at the webhook, though no write found it again."""
    api = client(alert_gateway, keys["rw"])
    url = f"ws://127.0.0.1:{alert_gateway.port}/api/db/ws?model=held-model"
    ws = RelayClient.connect(url, headers={"X-API-Key": keys["read"]})
    try:
        assert json.loads(ws.receive(timeout=10))["type"] == "subscribed"
        until = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
        selector = {"model_name": "held-model", "kind": "test_failure", "until": until}
        assert api.call("POST", "/api/test/db/suppressions", json=selector).status_code == 201
        _run(api, "held-model", 1, {"t_h": "passed"})
        _run(api, "held-model", 2, {"t_h": "failed"})
        _run(api, "held-model", 3, {"t_h": "failed"})  # still failing: not newly
        (held,) = _alert_events(ws, 1)
        assert (held["action"], held["alert"]["state"]) == ("suppressed", "suppressed")
        (raised,) = _alert_events(ws, 1)
    finally:
        ws.close()
    alert_id = held["alert"]["alert_id"]
    assert (raised["action"], raised["alert"]["alert_id"]) == ("raised", alert_id)
    assert (raised["alert"]["state"], raised["alert"]["suppressed"]) == ("active", False)
    good = receivers["good"]
    wait_until(lambda: good.actions(alert_id) == ["raised"], message="the raised POST")
    (alert,) = _alerts(api, model_name="held-model")
    assert alert["state"] == "active"


def test_a_job_failure_rate_alert_resolves_when_the_rate_drops(alert_gateway, keys):
    """Three failed runs of three raise ``job_failure_rate``; completed ones bring it down."""
    api = client(alert_gateway, keys["rw"])
    for minute in (1, 2, 3):
        _run(api, "failing-model", minute, {"t": "passed"}, status="failed")
    (alert,) = _alerts(api, model_name="failing-model", kind="job_failure_rate")
    assert alert["state"] == "active" and alert["details"]["rate"] == 1.0
    for minute in (4, 5, 6):
        _run(api, "failing-model", minute, {"t": "passed"})
    (alert,) = _alerts(api, model_name="failing-model", kind="job_failure_rate")
    assert (alert["state"], alert["resolved_by"]) == ("resolved", "auto")


def test_the_gateway_merges_alerts_and_the_model_view_carries_them(alert_gateway, keys):
    """``/api/db/alerts`` lists every component's alerts newest first with status blocks; the
    model view shows the model's active ones; bad filters are a 400 before any call."""
    api = client(alert_gateway, keys["read"])
    writer = client(alert_gateway, keys["rw"])
    _run(writer, "viewed-model", 1, {"t_v": "passed"})
    _run(writer, "viewed-model", 2, {"t_v": "failed"})
    merged = api.call("GET", "/api/db/alerts", params={"model_name": "viewed-model"}).json()
    assert merged["completed"] and set(merged["components"]) == set(NAMES)
    assert [(a["component"], a["test_name"]) for a in merged["alerts"]] == [("test", "t_v")]
    everything = api.call("GET", "/api/db/alerts", params={"limit": 1000}).json()["alerts"]
    times = [a["raised_at"] for a in everything]
    assert times == sorted(times, reverse=True) and len(everything) > 1
    assert api.call("GET", "/api/db/alerts", params={"state": "bogus"}).status_code == 400
    assert api.call("GET", "/api/db/alerts", params={"since": "yesterday"}).status_code == 400
    view = api.call("GET", "/api/db/model/viewed-model").json()
    assert [a["test_name"] for a in view["active_alerts"]] == ["t_v"]
    assert "overview" in view and "latest_verdicts" in view
