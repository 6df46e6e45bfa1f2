"""Bulk NDJSON / JSON-array ingest, all or nothing: the same for every component."""

import orjson
import pytest

from tests.contract.api import assert_error


def _rows(api, count):
    return [api.item(f"bulk-{i % 4}", status="completed", duration=float(i)) for i in range(count)]


def _listed(api):
    return api.client.get(api.items, query_string={"limit": 1000}).get_json()[
        api.component.entities
    ]


@pytest.mark.parametrize("encoding", ["ndjson", "array"])
def test_bulk_stores_every_row(api, encoding):
    """Store NDJSON and JSON-array uploads and report how many rows were stored."""
    rows = _rows(api, 50)
    data = b"\n".join(orjson.dumps(r) for r in rows) if encoding == "ndjson" else orjson.dumps(rows)
    response = api.client.post(f"{api.items}/bulk", data=data)
    assert response.status_code == 201 and response.get_json() == {"stored": 50}
    stored = _listed(api)
    assert len(stored) == 50 and sorted(i["duration"] for i in stored) == [
        float(i) for i in range(50)
    ]
    one = api.client.get(api.one(stored[0][api.id_name])).get_json()
    expected = api.item(stored[0]["model_name"])
    assert {k: one[k] for k in expected} == expected


@pytest.mark.parametrize("encoding", ["ndjson", "array"])
@pytest.mark.parametrize(
    "bad",
    [
        {"model_name": 5},
        {"nope": 1},
        {"status": "sleeping"},
        {"progress": 2.0},
        {"started_at": "not a time"},
    ],
)
def test_bad_row_rejects_all(api, encoding, bad):
    """A bad row rejects the upload with its row number; nothing is stored."""
    rows = _rows(api, 5)
    rows[3] = {**rows[3], **bad}
    data = b"\n".join(orjson.dumps(r) for r in rows) if encoding == "ndjson" else orjson.dumps(rows)
    error = assert_error(api.client.post(f"{api.items}/bulk", data=data), 400)
    assert error["details"]["row"] == 4, error
    assert _listed(api) == []


def test_malformed_line_is_named(api):
    """A line that is not JSON is named by its row number."""
    data = orjson.dumps(api.item()) + b"\n{broken\n"
    assert assert_error(api.client.post(f"{api.items}/bulk", data=data), 400)["details"]["row"] == 2
    assert_error(api.client.post(f"{api.items}/bulk", data=b""), 400)


def test_duplicate_and_existing_ids_are_409(api):
    """An id twice in one upload, or one already stored, rejects the upload."""
    row = api.item(**{api.id_name: "fixed-id"})
    assert_error(api.client.post(f"{api.items}/bulk", data=orjson.dumps([row, row])), 409)
    api.client.post(api.items, json=row)
    assert_error(api.client.post(f"{api.items}/bulk", data=orjson.dumps([row])), 409)
    assert len(_listed(api)) == 1
