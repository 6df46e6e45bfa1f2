"""Suppressions end: an alert raised while one held is raised again, live, once it expires or
is deleted while its condition still holds, in every component (each raises job failure rate
alerts; the Test Suite's newly failing tests are checked through the gateway)."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import NAMES, wait_until
from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME


@pytest.fixture(params=NAMES)
def app(request, tmp_path):
    """Return a component's app raising a failure-rate alert after three failed items."""
    component = BY_NAME[request.param]
    config = {"db_path": str(tmp_path / "alerts.duckdb"), "alert_failure_min_jobs": 3}
    made = create_app(component, config)
    yield made
    made.extensions["component"].database.close()


def _fail(client, component, model, count):
    hardware = "cpu" if not component.hardware_is_list else ["cpu"]
    for minute in range(count):
        body = {"model_name": model, "hardware": hardware, "status": "failed"}
        body["started_at"] = f"2025-01-01T00:{minute:02d}:00+00:00"
        answer = client.post(f"/api/{component.name}/db/{component.entities}", json=body)
        assert answer.status_code == 201, answer.get_json()


def _alert(client, component, model):
    listed = client.get(f"/api/{component.name}/db/alerts", query_string={"model_name": model})
    (found,) = listed.get_json()["alerts"]
    return found


def _alert_actions(subscription):
    return [e.fields["action"] for e in subscription.wait(0.1) if e.fields["type"] == "alert"]


def _suppress(client, component, model, seconds):
    until = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    body = {"model_name": model, "kind": "job_failure_rate", "until": until}
    made = client.post(f"/api/{component.name}/db/suppressions", json=body)
    assert made.status_code == 201, made.get_json()
    return made.get_json()["suppression_id"]


def test_an_expired_suppression_raises_the_alert_again_while_its_condition_holds(app):
    component = app.extensions["component"].component
    client = app.test_client()
    feed = app.extensions["component"].changes.subscribe()
    _suppress(client, component, "muted", 4)
    _fail(client, component, "muted", 3)
    alert = _alert(client, component, "muted")
    assert (alert["state"], alert["suppressed"]) == ("suppressed", True)
    assert _alert_actions(feed) == ["suppressed"]
    actions = []
    wait_until(
        lambda: actions.extend(_alert_actions(feed)) or actions, message="the alert raised again"
    )
    assert actions == ["raised"]
    again = _alert(client, component, "muted")
    assert again["alert_id"] == alert["alert_id"]
    assert (again["state"], again["suppressed"]) == ("active", False)
    assert again["raised_at"] > alert["raised_at"]
    path = f"/api/{component.name}/db/alert/{alert['alert_id']}"
    assert client.post(f"{path}/acknowledge").get_json()["state"] == "acknowledged"
    assert client.post(f"{path}/resolve").get_json()["state"] == "resolved"
    feed.close()


def test_deleting_a_suppression_raises_what_it_held_at_once(app):
    component = app.extensions["component"].component
    client = app.test_client()
    suppression = _suppress(client, component, "unmuted", 3600)
    _fail(client, component, "unmuted", 3)
    assert _alert(client, component, "unmuted")["state"] == "suppressed"
    feed = app.extensions["component"].changes.subscribe()
    deleted = client.delete(f"/api/{component.name}/db/suppression/{suppression}")
    assert deleted.status_code == 200
    assert _alert_actions(feed) == ["raised"]
    assert _alert(client, component, "unmuted")["state"] == "active"
    feed.close()
