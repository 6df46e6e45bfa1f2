"""Create, idempotency, patch, children, deletes and bad bodies: the same for every component."""

import pytest

from tests.contract.api import assert_error, make_api


def _count(api):
    return api.client.get(api.items, query_string={"limit": 1000}).get_json()["count"]


def test_create_returns_201_and_location(api):
    """Store one item with nested children; answer 201 with its Location."""
    response = api.client.post(api.items, json=api.item(tags={"suite": "nightly"}))
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(api.one(body[api.id_name]))
    assert api.client.get(response.headers["Location"]).get_json() == body


def test_idempotent_create(api):
    """The same body with a client id twice stores one item; another body for it is 409."""
    body = api.item(**{api.id_name: "client-id-1"})
    first = api.client.post(api.items, json=body)
    second = api.client.post(api.items, json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json() == second.get_json()
    assert_error(api.client.post(api.items, json={**body, "model_name": "other"}), 409)
    assert _count(api) == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"model_name": 5}, "model_name"),
        ({"progress": "half"}, "progress"),
        ({"progress": 1.5}, "progress"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": "9999-12-31T23:59:59-14:00"}, "started_at"),  # year 10000 in UTC
        ({"started_at": "0001-01-01T00:00:00+14:00"}, "started_at"),  # year 0 in UTC
        ({"nope": 1}, "nope"),
        ({"model_name": ""}, "model_name"),
    ],
)
def test_bad_body_is_400_naming_the_field(api, body, field):
    """Reject wrong types, out-of-range values and unknown fields; store nothing."""
    error = assert_error(api.client.post(api.items, json={**api.item(), **body}), 400)
    assert field in error["details"]
    assert _count(api) == 0


def test_missing_required_field_is_400(api):
    """Reject an item without model_name."""
    body = api.item()
    del body["model_name"]
    assert "model_name" in assert_error(api.client.post(api.items, json=body), 400)["details"]


@pytest.mark.parametrize(
    "data, status",
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b"", 400),
    ],
)
def test_malformed_body_is_rejected(api, data, status):
    """Reject malformed JSON, a non-object body and an empty body."""
    assert_error(api.client.post(api.items, data=data, content_type="application/json"), status)


def test_wrong_content_type_is_415(api):
    """Reject a body that is not JSON."""
    assert_error(api.client.post(api.items, data=b"a=b", content_type="text/plain"), 415)


def test_oversized_body_is_413(component_name, tmp_path):
    """Refuse a body over max_body_mb before reading it."""
    api = make_api(component_name, tmp_path / "small.duckdb", max_body_mb=1)
    body = b'{"model_name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert_error(api.client.post(api.items, data=body, content_type="application/json"), 413)
    assert_error(api.client.post(f"{api.items}/bulk", data=body), 413)


def test_patch_lifecycle(api):
    """Move an item through running to completed; a finished item's status is 409."""
    item_id = api.create(status="running", progress=0.0)[api.id_name]
    patched = api.client.patch(api.one(item_id), json={"progress": 0.5, "current_step": "load"})
    assert patched.get_json()["progress"] == 0.5
    done = api.client.patch(api.one(item_id), json={"status": "completed"}).get_json()
    assert done["status"] == "completed" and done["progress"] == 1.0
    assert done["completed_at"] is not None and done["duration"] >= 0
    assert_error(api.client.patch(api.one(item_id), json={"status": "failed"}), 409)
    assert_error(api.client.patch(api.one(item_id), json={"model_name": "x"}), 400)
    assert_error(api.client.patch(api.one(item_id), json={}), 400)
    assert_error(api.client.patch(api.one("missing"), json={"progress": 0.1}), 404)


def test_add_children(api):
    """Append metrics and tags to an existing item; an unknown child is 404."""
    item_id = api.create()[api.id_name]
    url = api.one(item_id)
    response = api.client.post(f"{url}/metrics", json={"load_time": {"value": 1.25, "unit": "s"}})
    assert response.status_code == 201
    assert response.get_json()["metrics"]["load_time"]["value"] == 1.25
    tags = api.client.post(f"{url}/tags", json={"owner": "ci"}).get_json()["tags"]
    assert tags == {"owner": "ci"}
    assert_error(api.client.post(f"{url}/metrics", json={"x": {"value": "high"}}), 400)
    assert_error(api.client.post(f"{url}/nothing", json={}), 404)


def test_delete_item(api):
    """Delete one item and its children (ORIGIN defect 11: every delete was a 404)."""
    item_id = api.create(tags={"a": "b"})[api.id_name]
    assert api.client.delete(api.one(item_id)).get_json()["deleted"] is True
    assert_error(api.client.get(api.one(item_id)), 404)
    assert_error(api.client.delete(api.one(item_id)), 404)


@pytest.mark.parametrize("delete_members", [False, True])
def test_delete_batch(api, delete_members):
    """Delete a batch: members are detached by default, deleted when asked."""
    batch = api.client.post(f"{api.base}/batches", json={"name": "nightly"})
    assert batch.status_code == 201
    batch_id = batch.get_json()["batch_id"]
    members = [api.create(f"m{i}", batch_id=batch_id)[api.id_name] for i in range(3)]
    api.create("outsider")
    detail = api.client.get(f"{api.base}/batch/{batch_id}").get_json()
    assert detail[api.component.count_name()] == 3
    assert_error(api.client.post(api.items, json=api.item(batch_id="no-such-batch")), 409)
    param = api.component.batch_delete_param
    response = api.client.delete(
        f"{api.base}/batch/{batch_id}", query_string={param: str(delete_members).lower()}
    )
    assert response.status_code == 200
    assert_error(api.client.get(f"{api.base}/batch/{batch_id}"), 404)
    if delete_members:
        assert _count(api) == 1
    else:
        assert _count(api) == 4
        assert api.client.get(api.one(members[0])).get_json()["batch_id"] is None
    assert_error(api.client.delete(f"{api.base}/batch/{batch_id}"), 404)
