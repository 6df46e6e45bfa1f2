"""The query grammar on data whose answers are known: sort, comparisons, in, isnull, since and
until, fields, total, cursors for any order, and a 400 naming every malformed term."""

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.contract.api import GATEWAY, assert_error, make_api
from unified_api_server.core.data.query import Condition, Query

START = datetime(2026, 3, 1, tzinfo=UTC)
MODELS = ("bert", "gpt2", "t5")


def _hardware(api, device):
    return [device] if api.component.hardware_is_list else device


def _seed(api, count=24):
    """Create items with known models, devices, durations (some missing) and start times.

    Through a gateway (a deployment, DuckLake replicas among them) they go up as one batch in
    one bulk upload: two writes where one create each took ``count``, and the next test's
    reset deletes them with their batch in one more. In-process, one create each.
    """
    bodies = []
    for i in range(count):
        changes = {
            "hardware": _hardware(api, "cuda" if i % 4 == 0 else "cpu"),
            "started_at": (START + timedelta(hours=i // 2)).isoformat(),
            "status": "failed" if i % 5 == 0 else "completed",
        }
        if i % 6:
            changes["duration"] = float((i * 7) % 11)
        bodies.append((MODELS[i % 3], changes))
    if not GATEWAY:
        return [api.create(model, **changes) for model, changes in bodies]
    batch = api.client.post(f"{api.base}/batches", json={"name": "seed"}).get_json()["batch_id"]
    rows = [api.item(model, batch_id=batch, **changes) for model, changes in bodies]
    response = api.client.post(f"{api.items}/bulk", data=orjson.dumps(rows))
    assert response.status_code in (200, 201), response.get_json()
    made = _list(api)[api.component.entities]
    assert len(made) == count
    return made


def _list(api, **query):
    response = api.client.get(api.items, query_string={"limit": 1000, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _ids(api, **query):
    return [row[api.id_name] for row in _list(api, **query)[api.component.entities]]


def _walk(api, **query):
    """Walk every page of a listing; return the ids in order (each page 5 long)."""
    seen, token = [], None
    for _ in range(100):  # loop guard
        page = _list(api, **query, limit=5, **({"cursor": token} if token else {}))
        seen += [row[api.id_name] for row in page[api.component.entities]]
        token = page["next_cursor"]
        if token is None:
            return seen
    raise AssertionError("pagination did not end")


def _expected(api, made, key):
    """Return the ids of ``made`` in the order ``key`` gives, nulls last, ties by id."""
    return [row[api.id_name] for row in sorted(made, key=key)]


def _nulls_last(value, reverse=False):
    if value is None:
        return (1, 0)
    return (0, -value if reverse else value)


def test_sort_orders_by_several_fields(api):
    made = _seed(api)
    by_id = sorted(made, key=lambda r: r[api.id_name], reverse=True)
    want = [
        r[api.id_name]
        for r in sorted(
            by_id, key=lambda r: (_nulls_last(r["duration"], reverse=True), r["model_name"])
        )
    ]
    assert _ids(api, sort="-duration,model_name") == want


@pytest.mark.parametrize("sort", ["-duration,model_name", "duration", "model_name", "-started_at"])
def test_cursor_walks_every_order_once(api, sort):
    _seed(api)
    assert _walk(api, sort=sort) == _ids(api, sort=sort)


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ({"duration__gt": "5"}, lambda r: r["duration"] is not None and r["duration"] > 5),
        ({"duration__gte": "5"}, lambda r: r["duration"] is not None and r["duration"] >= 5),
        ({"duration__lt": "3"}, lambda r: r["duration"] is not None and r["duration"] < 3),
        ({"duration__lte": "3"}, lambda r: r["duration"] is not None and r["duration"] <= 3),
        ({"duration__isnull": "true"}, lambda r: r["duration"] is None),
        ({"duration__isnull": "false"}, lambda r: r["duration"] is not None),
        ({"model_name__ne": "bert"}, lambda r: r["model_name"] != "bert"),
        ({"model_name__in": "bert,t5"}, lambda r: r["model_name"] in ("bert", "t5")),
        ({"status__in": "failed"}, lambda r: r["status"] == "failed"),
        ({"hardware__in": "cpu,cuda"}, lambda r: True),
        ({"since": "2026-03-01T05:00:00Z"}, lambda r: r["started_at"] >= "2026-03-01T05:00"),
        ({"until": "2026-03-01T05:00:00Z"}, lambda r: r["started_at"] < "2026-03-01T05:00"),
    ],
)
def test_filters_select_exactly_the_known_rows(api, query, check):
    made = _seed(api)
    want = {r[api.id_name] for r in made if check(r)}
    assert want, "the data must make the filter select something"
    assert set(_ids(api, **query)) == want


def test_hardware_filters_on_each_device(api):
    made = _seed(api)
    cuda = {r[api.id_name] for r in made if "cuda" in str(r["hardware"])}
    assert set(_ids(api, hardware="cuda")) == cuda
    assert set(_ids(api, hardware__ne="cuda")) == {r[api.id_name] for r in made} - cuda


def test_fields_select_the_fields(api):
    _seed(api, 3)
    rows = _list(api, fields="model_name,duration")[api.component.entities]
    assert rows and all(set(row) == {"model_name", "duration"} for row in rows)


def test_total_counts_every_match(api):
    made = _seed(api)
    page = _list(api, total="true", limit=2, model_name="bert")
    assert page["total"] == sum(r["model_name"] == "bert" for r in made)
    assert page["total_is_exact"] is True and page["count"] == 2
    assert "total" not in _list(api)


def test_statistics_and_search_take_the_filters(api):
    made = _seed(api)
    slow = sum(1 for r in made if (r["duration"] or 0) > 5)
    stats = api.client.get(f"{api.base}/models/stats", query_string={"duration__gt": "5"})
    body = stats.get_json()
    assert body["summary"][api.component.count_name()] == slow
    found = api.client.get(
        f"{api.base}/search",
        query_string={"query": "bert", "sort": "-duration", "fields": "model_name,duration"},
    ).get_json()["results"]
    durations = [r["duration"] for r in found if r["duration"] is not None]
    assert durations == sorted(durations, reverse=True)
    assert all(r["model_name"] == "bert" and set(r) == {"model_name", "duration"} for r in found)


def _other_sort_cursor(api):
    return _list(api, sort="duration", limit=1)["next_cursor"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"sort": "bogus"}, "bogus"),
        ({"sort": "duration,duration"}, "duration"),
        ({"duration__gt": "fast"}, "duration__gt"),
        ({"duration__between": "1"}, "duration__between"),
        ({"bogus__gt": "1"}, "bogus__gt"),
        ({"hardware": "cpu,cuda"}, "hardware__in"),
        ({"status__in": "done"}, "status__in"),
        ({"completed_at__isnull": "maybe"}, "completed_at__isnull"),
        ({"since": "yesterday"}, "since"),
        ({"fields": "model_name,bogus"}, "bogus"),
        ({"total": "maybe"}, "total"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"order": "desc"}, "order"),
        ({"duration__gt": ""}, "duration__gt"),
        ({"status__in": ","}, "status__in"),
        ({"model_name": ""}, "model_name"),
    ],
)
def test_malformed_terms_are_400_naming_them(api, query, named):
    _seed(api, 3)
    error = assert_error(api.client.get(api.items, query_string=query), 400)
    assert named in error["message"] + orjson.dumps(error.get("details")).decode()


def test_a_list_field_is_matched_not_compared(api):
    if not api.component.hardware_is_list:
        pytest.skip("this component's hardware is one text value, compared as text")
    error = assert_error(api.client.get(api.items, query_string={"hardware__gt": "cpu"}), 400)
    assert "hardware__gt" in error["message"]


def test_a_cursor_of_another_order_is_400(api):
    _seed(api, 3)
    error = assert_error(
        api.client.get(api.items, query_string={"cursor": _other_sort_cursor(api)}), 400
    )
    assert "sort" in error["message"]
    forged = base64.urlsafe_b64encode(orjson.dumps(["duration", ["x", "y"]])).decode()
    assert_error(
        api.client.get(api.items, query_string={"sort": "duration", "cursor": forged}), 400
    )


@pytest.mark.parametrize("term", ["sort", "fields", "total", "cursor"])
def test_statistics_refuse_list_options(api, term):
    error = assert_error(api.client.get(f"{api.base}/models/stats", query_string={term: "x"}), 400)
    assert term in error["message"]


def test_total_stops_at_its_cap(component_name, tmp_path):
    """Past the cap, total is the cap and says it is not exact; at or below, it is exact."""
    api = make_api(component_name, tmp_path / "cap.duckdb")
    _seed(api, 10)
    state = api.client.application.extensions["component"]
    with state.database.cursor() as cursor:
        everything = Query()
        assert state.reads.count(cursor, everything, 4) == (4, False)
        assert state.reads.count(cursor, everything, 10) == (10, True)
        failed = Query((Condition("status", "eq", "failed"),))
        assert state.reads.count(cursor, failed, 4) == (2, True)
    state.database.close()


def test_export_takes_sort_and_fields(api):
    made = _seed(api)
    response = api.client.post(
        f"{api.base}/export",
        json={"format": "ndjson", "sort": "-duration", "fields": f"{api.id_name},duration"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = [orjson.loads(line) for line in response.get_data().splitlines() if line.strip()]
    assert all(set(row) == {api.id_name, "duration"} for row in rows)
    by_id = sorted(made, key=lambda r: r[api.id_name], reverse=True)
    want = _expected(api, by_id, lambda r: _nulls_last(r["duration"], reverse=True))
    assert [row[api.id_name] for row in rows] == want


def test_export_takes_lists_in_a_json_body(api):
    _seed(api, 4)
    body = {
        "format": "ndjson",
        "sort": ["-duration", "model_name"],
        "fields": [api.id_name, "duration"],
    }
    response = api.client.post(f"{api.base}/export", json=body)
    rows = [orjson.loads(line) for line in response.get_data().splitlines() if line.strip()]
    assert rows and all(set(row) == {api.id_name, "duration"} for row in rows)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"fields": "results"}, "results"),
        ({"fields": "bogus"}, "bogus"),
        ({"sort": "bogus"}, "bogus"),
        ({"total": "true"}, "total"),
        ({"table": "batches", "sort": "duration"}, "sort"),
    ],
)
def test_export_refuses_malformed_terms(api, body, named):
    error = assert_error(api.client.post(f"{api.base}/export", json=body), 400)
    assert named in error["message"]
