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


@pytest.mark.parametrize(
    "body",
    [b"null", b"null\nnull", b"  null\n", b"5\n", b'"x"', b"{}\nnull\n", b'{"a": 1} {"b": 2}'],
)
def test_a_line_that_is_not_one_object_is_a_400(api, body):
    """Not one object a line: a 400 naming the row (a `null` line once crashed the worker)."""
    assert "row" in assert_error(api.client.post(f"{api.items}/bulk", data=body), 400)["message"]
    assert _listed(api) == []


@pytest.mark.parametrize("encoding", ["ndjson", "array"])
def test_a_time_utc_cannot_hold_is_named(api, encoding):
    """9999-12-31T23:59:59-14:00 is in the year 10000 in UTC: the row is named, nothing stored."""
    rows = _rows(api, 3)
    rows[1] = {**rows[1], "started_at": "9999-12-31T23:59:59-14:00"}
    data = b"\n".join(orjson.dumps(r) for r in rows) if encoding == "ndjson" else orjson.dumps(rows)
    error = assert_error(api.client.post(f"{api.items}/bulk", data=data), 400)
    assert error["details"]["row"] == 2 and "years 1 to 9999" in error["message"]
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


@pytest.fixture()
def small_pieces(api, monkeypatch):
    """Read uploads 1,000 bytes at a time (and JSON arrays up to 2,000), to see the pieces."""
    from tests.contract.api import HttpClient
    from unified_api_server.core.web import bulk_pieces as bulk

    if isinstance(api.client, HttpClient):
        pytest.skip("the piece size is set in-process only")

    monkeypatch.setattr(bulk, "PIECE", 1000)
    monkeypatch.setattr(bulk, "MAX_ARRAY", 2000)


def _ndjson(rows):
    return b"\n".join(orjson.dumps(r) for r in rows) + b"\n"


@pytest.mark.in_process
def test_an_upload_read_in_pieces_is_stored_whole(api, small_pieces):
    """Lines cut across piece edges are joined; every row of every piece is stored."""
    response = api.client.post(f"{api.items}/bulk", data=_ndjson(_rows(api, 60)))
    assert response.status_code == 201 and response.get_json() == {"stored": 60}
    assert sorted(i["duration"] for i in _listed(api)) == [float(i) for i in range(60)]


@pytest.mark.in_process
def test_a_bad_row_in_a_later_piece_is_named_and_nothing_is_stored(api, small_pieces):
    """Row numbers count across pieces; the pieces before it are not kept."""
    rows = _rows(api, 60)
    rows[47] = {**rows[47], "status": "sleeping"}
    response = api.client.post(f"{api.items}/bulk", data=_ndjson(rows))
    assert "row 48" in assert_error(response, 400)["message"]
    assert response.get_json()["error"]["details"]["row"] == 48
    assert _listed(api) == []


@pytest.mark.in_process
def test_an_id_repeated_across_pieces_is_a_conflict(api, small_pieces):
    """The same client id in the first and the last piece: 409, nothing stored."""
    rows = _rows(api, 60)
    same = "0190a1b2-0000-7000-8000-000000000001"
    rows[2] = {**rows[2], api.id_name: same}
    rows[58] = {**rows[58], api.id_name: same}
    response = api.client.post(f"{api.items}/bulk", data=_ndjson(rows))
    assert "appears more than once" in assert_error(response, 409)["message"]
    assert _listed(api) == []


@pytest.mark.in_process
def test_a_json_array_too_large_to_parse_whole_points_to_ndjson(api, small_pieces):
    """A JSON array is parsed whole, so it has a size limit of its own: 413 naming NDJSON."""
    response = api.client.post(f"{api.items}/bulk", data=orjson.dumps(_rows(api, 60)))
    assert "NDJSON" in assert_error(response, 413)["message"]
    assert _listed(api) == []


@pytest.mark.in_process
def test_an_ndjson_line_longer_than_a_piece_is_413(api, small_pieces):
    """One line may not outgrow a piece (it would have to be held whole): 413 naming the limit."""
    row = {**api.item(), "model_name": "m" * 200}
    data = orjson.dumps(row) * 20  # no newline: one long line
    assert (
        "NDJSON line"
        in assert_error(api.client.post(f"{api.items}/bulk", data=data), 413)["message"]
    )
    assert _listed(api) == []
