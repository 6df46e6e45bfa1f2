"""Lists, details, pagination, filters and query-string errors: the same for every component."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.contract.api import assert_error, make_api
from unified_api_server.core.component import SQL_TYPES

START = datetime(2026, 1, 1, tzinfo=UTC)


def _seed(api, count):
    """Create ``count`` items; pairs share a start time so the keyset must break ties by id."""
    return [
        api.create(f"model-{i % 3}", started_at=(START + timedelta(minutes=i // 2)).isoformat())
        for i in range(count)
    ]


def test_list_and_detail(api):
    """List the items and read one back with its children (ORIGIN defect 11: reads were empty)."""
    created = api.create(
        "bert-base",
        metrics={"accuracy": {"value": 0.9, "unit": "ratio"}},
        tags={"suite": "nightly"},
    )
    listing = api.client.get(api.items).get_json()
    assert listing["count"] == 1 and listing["next_cursor"] is None
    assert listing[api.component.entities][0][api.id_name] == created[api.id_name]
    detail = api.client.get(api.one(created[api.id_name])).get_json()
    assert detail["model_name"] == "bert-base"
    assert detail["metrics"]["accuracy"]["value"] == 0.9
    assert detail["tags"] == {"suite": "nightly"}
    assert datetime.fromisoformat(detail["started_at"]).utcoffset() == timedelta(0)


def test_pagination_walks_every_item_once(api):
    """Walk the pages to the end: every item once, newest first, with a loop guard."""
    created = {item[api.id_name] for item in _seed(api, 11)}
    seen, cursor, pages = [], None, 0
    while True:
        pages += 1
        assert pages <= 10, "pagination does not end"
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(api.items, query_string=query).get_json()
        seen += [item[api.id_name] for item in page[api.component.entities]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert len(seen) == len(set(seen)) == 11 and set(seen) == created
    listing = api.client.get(api.items, query_string={"limit": 1000}).get_json()
    starts = [item["started_at"] for item in listing[api.component.entities]]
    assert starts == sorted(starts, reverse=True)


def test_filters_are_applied(api):
    """Filter by model, status, tag and time range."""
    _seed(api, 6)
    api.create(
        "filtered",
        status="failed",
        tags={"owner": "ci"},
        started_at=(START + timedelta(days=5)).isoformat(),
    )

    def count(**query):
        return api.client.get(api.items, query_string=query).get_json()["count"]

    assert count(model_name="model-0") == 2
    assert count(model_name=["model-0", "model-1"]) == 4
    assert count(status="failed") == 1
    assert count(tag="owner:ci") == 1 and count(tag="owner") == 1 and count(tag="owner:x") == 0
    assert count(since=(START + timedelta(days=1)).isoformat()) == 1
    assert count(until=(START + timedelta(days=1)).isoformat()) == 6


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"nope": "1"},
        {"status": "sleeping"},
        {"since": "yesterday"},
    ],
)
def test_bad_query_is_400(api, query):
    """Reject a bad limit, cursor, filter value or unknown parameter with the envelope."""
    error = assert_error(api.client.get(api.items, query_string=query), 400)
    assert any(key in error["message"] for key in query)


def test_unknown_id_is_404(api):
    """Answer 404 for an unknown item, batch and route."""
    assert_error(api.client.get(api.one("missing")), 404)
    assert_error(api.client.get(f"{api.base}/batch/missing"), 404)
    assert_error(api.client.delete(api.one("missing")), 404)
    assert_error(api.client.get(f"{api.base}/no-such-route"), 404)


def test_wrong_method_is_405(api):
    """Answer 405 with Allow for a method the route does not take."""
    response = api.client.put(api.items, json={})
    assert_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_statistics_endpoints_answer(api):
    """Model and hardware statistics count every item (ORIGIN names kept)."""
    _seed(api, 4)
    models = api.client.get(f"{api.base}/models/stats").get_json()
    total = api.component.count_name()
    assert sum(row[total] for row in models["models"]) == 4
    assert models["summary"][total] == 4
    hardware = api.client.get(f"{api.base}/hardware/stats").get_json()["hardware"]
    assert hardware == [] or hardware[0]["hardware"] == "cpu"
    performance = api.client.get(f"{api.base}/performance", query_string={"days": 3650})
    assert performance.status_code == 200
    assert f"latest_{api.component.entities}" in performance.get_json()


def test_migrations_are_listed(api):
    """List the applied schema migrations."""
    migrations = api.client.get(f"{api.base}/migrations").get_json()["migrations"]
    assert migrations[0]["version"] == 1 and migrations[0]["name"] == "initial"
    assert len(migrations[0]["checksum"]) == 64


def test_tables_agree_with_the_declaration(component_name, tmp_path):
    """Every declared column exists in the migrated tables with its declared type."""
    api = make_api(component_name, tmp_path / "schema.duckdb")
    database = api.client.application.extensions["component"].database
    cursor = database.cursor()
    try:
        types = {
            (t, c): d
            for t, c, d in cursor.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns()"
            ).fetchall()
        }
    finally:
        cursor.close()
    component = api.component
    tables = [(component.table, component.columns)] + [
        (child.table, child.columns) for child in component.children
    ]
    for table, columns in tables:
        for column in columns:
            assert types.get((table, column.name)) == SQL_TYPES[column.kind], (table, column.name)
        assert (table, component.id_column) in types


def test_hardware_stats_count_each_device(api):
    """One row per device; an item on several devices counts for each (ORIGIN defect 14)."""
    several = api.component.hardware_is_list
    devices = (["cpu", "cuda"], ["cuda", "cpu"], ["cpu"]) if several else ("cpu", "cuda", "cpu")
    for hardware, status, duration in zip(devices, ("completed", "failed", "completed"), (1, 3, 2)):
        api.create(hardware=hardware, status=status, duration=float(duration))
    body = api.client.get(f"{api.base}/hardware/stats").get_json()
    rows = {row["hardware"]: row for row in body["hardware"]}
    total = api.component.count_name()
    assert set(rows) == {"cpu", "cuda"}
    if several:
        assert (rows["cpu"][total], rows["cuda"][total]) == (3, 2)
        assert rows["cuda"]["success_rate"] == 0.5 and rows["cpu"]["avg_duration"] == 2.0
    else:
        assert (rows["cpu"][total], rows["cuda"][total]) == (2, 1)
        assert rows["cuda"]["success_rate"] == 0.0 and rows["cpu"]["avg_duration"] == 1.5
