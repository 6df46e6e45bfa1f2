"""Export, then bulk: what one component exports, a fresh one takes back unchanged, table by table.

The copy is a second, real component process on its own DuckDB file (and, for the JSON-array
export, a second in-process one): every item reads back the same with its children, and each
table exports byte for byte the same from both.
"""

import orjson
import pytest

from tests.contract.api import Api, HttpClient, assert_error, make_api
from tests.support import ServiceProcess
from unified_api_server.registry import BY_NAME


def _post(api, path, **kwargs):
    """POST and read the whole answer, so a heavy request's slot is given back at once."""
    response = api.client.post(path, **kwargs)
    status, data = response.status_code, response.get_data()
    body = orjson.loads(data) if data[:1] in (b"{", b"[") and status != 200 else data
    getattr(response, "close", lambda: None)()
    return status, body


def export(api, table=None, fmt="ndjson"):
    """Return the body of an export of ``table`` (default the main table)."""
    status, data = _post(
        api, f"{api.base}/export", json={"format": fmt, **({"table": table} if table else {})}
    )
    assert status == 200, data
    return data


def bulk(api, data, table=None):
    """Upload ``data`` to ``table`` (default the main table); return (status, body)."""
    return _post(
        api, f"{api.items}/bulk", data=data, query_string={"table": table} if table else None
    )


def tables(api):
    """Return every table export and bulk name, in the order an upload must follow."""
    return ["batches", api.component.entities, *api.component.child_by_key]


def _fill(api):
    """Store items that use every table: children, a batch, a change, rows loaded by bulk."""
    component = api.component
    status, _ = _post(
        api, f"{api.base}/batches", json={"batch_id": "b-1", "name": "n", "metadata": {"k": [1]}}
    )
    assert status == 201
    children = {"tags": {"suite": "nightly", "empty": None}}
    for key, child in component.child_by_key.items():
        if child.shape == "list":
            children[key] = _list_rows(child)
        elif child.shape == "named":
            children[key] = {"latency_ms": {"value": 12.5, "unit": "ms"}, "score": 0.25}
    extra = (
        {"parameters": {"seq": 128, "x": 1.5}} if "parameters" in component.column_by_name else {}
    )
    bodies = [
        api.item(
            f"m{i}",
            **{api.id_name: f"fixed-{i}"},
            status="completed",
            started_at=f"2026-01-0{i + 1}T00:00:00Z",
            completed_at=f"2026-01-0{i + 1}T00:01:00Z",
            batch_id="b-1" if i else None,
            **children,
            **extra,
        )
        for i in range(3)
    ]
    for body in bodies:
        assert api.client.post(api.items, json=body).status_code == 201
    api.create("running-one", status="running", progress=0.1, tags={"x": "y"})
    assert api.client.patch(api.one("fixed-0"), json={"current_step": "done"}).status_code == 200
    more = b"\n".join(orjson.dumps(api.item(f"bulk-{i}", duration=float(i))) for i in range(4))
    assert bulk(api, more)[0] == 201
    return bodies


def _items(api):
    """Return every item with its children, by id."""
    listed = api.client.get(api.items, query_string={"limit": 1000}).get_json()
    found = {}
    for item in listed[api.component.entities]:
        one = api.client.get(api.one(item[api.id_name]))
        assert one.status_code == 200
        found[item[api.id_name]] = one.get_json()
    return found


def _copy(source, target, fmt):
    for table in tables(source):
        data = export(source, table, fmt)
        if data.strip() in (b"", b"[]"):
            continue  # nothing to copy: an empty body is refused
        status, body = bulk(target, data, table)
        assert status == 201, (table, body)


@pytest.fixture
def copy(component_name, tmp_path):
    """Return a second, fresh component: a real process on its own DuckDB file."""
    folder = tmp_path / "copy"
    folder.mkdir()
    service = ServiceProcess.component(component_name, folder).wait_ready()
    yield Api(BY_NAME[component_name], HttpClient(service.url, ""))
    service.stop()


def test_an_export_bulk_loads_into_a_fresh_component_unchanged(api, copy, tmp_path):
    """Every table goes back: same items, same children, the same exports byte for byte."""
    bodies = _fill(api)
    copies = [copy, make_api(api.component.name, tmp_path / "array.duckdb")]
    for target, fmt in zip(copies, ("ndjson", "json")):
        _copy(api, target, fmt)
        assert _items(target) == _items(api)
        for table in tables(api):
            assert export(target, table) == export(api, table), table
        batch = target.client.get(f"{target.base}/batch/b-1").get_json()
        assert batch == api.client.get(f"{api.base}/batch/b-1").get_json()
        again = target.client.post(target.items, json=bodies[1])  # the same item, not a second
        assert again.status_code == 200 and again.get_json() == _items(api)["fixed-1"]
        assert_error(target.client.post(target.items, json={**bodies[1], "model_name": "x"}), 409)


def _child(api, key=None):
    key = key or next(iter(api.component.child_by_key))
    return key, api.component.child_by_key[key]


def _list_rows(child, count=3):
    """Return ``count`` valid rows of a list-shaped child (steps, samples), every column set."""
    rows = []
    for i in range(count):
        row = {}
        for column in child.columns:
            if column.choices:
                row[column.name] = column.choices[i % len(column.choices)]
            elif column.kind == "ts":
                row[column.name] = f"2026-01-01T00:00:0{i}Z"
            else:
                row[column.name] = {"str": f"{column.name}-{i}", "float": 1.5 + i}[column.kind]
        rows.append(row)
    return rows


def _child_row(api, key, item_id, **changes):
    child = api.component.child_by_key[key]
    row = {api.id_name: item_id, "name": "r", "value": 1.0}
    if child.shape == "list":
        row = {api.id_name: item_id, **_list_rows(child, 1)[0]}
        if "name" not in child.names:  # a child without names (samples): rows differ anyway
            changes.pop("name", None)
    elif api.component.child_by_key[key].shape == "tags":
        row = {api.id_name: item_id, "name": "r", "value": "v"}
    return {**row, **changes}


def test_an_unknown_table_is_a_400(api):
    """A table export does not know is named in the answer."""
    error = assert_error(api.client.post(f"{api.items}/bulk?table=secrets", data=b"{}\n"), 400)
    assert "table" in error["message"] and error["details"] == {"table": "secrets"}


@pytest.mark.parametrize("encoding", ["ndjson", "array"])
def test_a_child_row_of_a_missing_item_is_named(api, encoding):
    """Every child table: a row naming an item that does not exist is a 400, nothing stored."""
    item_id = api.create()[api.id_name]
    for key in api.component.child_by_key:
        rows = [_child_row(api, key, item_id, name=f"r{i}") for i in range(3)]
        rows[2][api.id_name] = "no-such-item"
        data = orjson.dumps(rows) if encoding == "array" else b"\n".join(map(orjson.dumps, rows))
        status, body = bulk(api, data, key)
        assert status == 400 and body["error"]["details"]["row"] == 3, body
        assert "no-such-item" in body["error"]["message"]
        assert export(api, key) == b""


@pytest.mark.parametrize(
    ("table", "bad", "field"),
    [
        (None, {"created_at": 5}, "created_at"),
        (None, {"created_at": "yesterday"}, "created_at"),
        (None, {"updated_at": [2026]}, "updated_at"),
        (None, {"content_hash": "not-a-hash"}, "content_hash"),
        ("batches", {"created_at": "soon"}, "created_at"),
        ("batches", {"metadata": [1]}, "metadata"),
        ("metrics", {"recorded_at": True}, "recorded_at"),
        ("metrics", {"recorded_at": "later"}, "recorded_at"),
        ("metrics", {"id": 7}, "id"),
        ("metrics", {"value": "high"}, "value"),
        ("tags", {"<id>": None}, "_id"),
    ],
)
def test_bad_server_set_fields_are_named(api, table, bad, field):
    """A wrong type in a server-set field is a 400 naming the row and field; nothing is stored."""
    item_id = api.create()[api.id_name]
    rows = [api.item(f"m{i}") for i in range(3)]
    if table == "batches":
        rows = [{"batch_id": f"b{i}"} for i in range(3)]
    elif table:
        rows = [_child_row(api, table, item_id, name=f"r{i}") for i in range(3)]
    bad = {api.id_name if k == "<id>" else k: v for k, v in bad.items()}  # the item's id, unset
    rows[1] = {**rows[1], **bad}
    before = export(api, table)
    status, body = bulk(api, b"\n".join(map(orjson.dumps, rows)), table)
    assert status == 400 and body["error"]["details"]["row"] == 2, body
    assert field in body["error"]["message"]
    assert export(api, table) == before


def test_server_set_fields_are_kept_when_given_and_set_when_not(api):
    """created_at, updated_at and a child's recorded_at come in as given, or are set now."""
    given = "2020-05-01T12:00:00+00:00"
    rows = [api.item("a", created_at=given, updated_at=given), api.item("b")]
    assert bulk(api, orjson.dumps(rows))[0] == 201
    stored = {i["model_name"]: i for i in _items(api).values()}
    assert stored["a"]["created_at"] == stored["a"]["updated_at"] == given
    assert stored["b"]["created_at"] > given
    key, _ = _child(api, "metrics")
    item_id = stored["a"][api.id_name]
    rows = [
        _child_row(api, key, item_id, name="x", recorded_at=given),
        _child_row(api, key, item_id),
    ]
    assert bulk(api, orjson.dumps(rows), key)[0] == 201
    exported = [orjson.loads(line) for line in export(api, key).splitlines()]
    assert exported[0]["recorded_at"] == given and exported[1]["recorded_at"] > given
    assert "id" not in exported[0]


def test_child_rows_keep_their_order_and_a_tag_is_set_once(api):
    """Steps come back in the order they were uploaded; a tag already set is a 409."""
    item_id = api.create(tags={"suite": "a"})[api.id_name]
    key, child = _child(api)
    names = [f"n{i}" for i in (3, 1, 2, 0)]
    rows = [_child_row(api, key, item_id, name=n) for n in names]
    assert bulk(api, b"\n".join(map(orjson.dumps, rows)), key)[0] == 201
    one = api.client.get(api.one(item_id)).get_json()[key]
    assert (list(one) if child.shape != "list" else [s["name"] for s in one]) == names
    status, body = bulk(api, orjson.dumps([_child_row(api, "tags", item_id, name="suite")]), "tags")
    assert status == 409 and body["error"]["details"]["row"] == 1
    twice = [_child_row(api, "tags", item_id, name="new")] * 2
    assert bulk(api, orjson.dumps(twice), "tags")[0] == 409
    assert api.client.get(api.one(item_id)).get_json()["tags"] == {"suite": "a"}


def test_a_named_child_is_set_once(api):
    """Named children (metrics) are a map like tags: a name twice, or already set, is a 409."""
    named = [c.key for c in api.component.children if c.shape == "named"]
    item_id = api.create()[api.id_name]
    for key in named:
        twice = [_child_row(api, key, item_id, name="m")] * 2
        status, body = bulk(api, orjson.dumps(twice), key)
        assert status == 409 and "'m'" in body["error"]["message"]
        assert bulk(api, orjson.dumps(twice[:1]), key)[0] == 201
        assert bulk(api, orjson.dumps(twice[:1]), key)[0] == 409
        assert list(api.client.get(api.one(item_id)).get_json()[key]) == ["m"]


def test_an_existing_batch_is_a_409(api):
    """A batch id already stored rejects the upload, as creating it again would."""
    assert _post(api, f"{api.base}/batches", json={"batch_id": "b-1"})[0] == 201
    status, body = bulk(api, orjson.dumps([{"batch_id": "b-2"}, {"batch_id": "b-1"}]), "batches")
    assert status == 409 and body["error"]["details"]["row"] == 2
    assert len(export(api, "batches").splitlines()) == 1
