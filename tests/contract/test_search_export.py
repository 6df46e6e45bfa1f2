"""Ranked search and streamed export in every format: the same for every component."""

import io

import orjson
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from tests.contract.api import assert_error


def test_search_ranks_exact_above_partial(api):
    """An exact model match ranks above newer partial ones; filters still apply."""
    api.create("bert", started_at="2026-01-01T00:00:00+00:00")
    api.create("bert-large", started_at="2026-02-01T00:00:00+00:00")
    api.create("gpt2", started_at="2026-03-01T00:00:00+00:00")
    body = api.client.post(f"{api.base}/search", json={"query": "BERT"}).get_json()
    assert [r["model_name"] for r in body["results"]] == ["bert", "bert-large"]
    tagged = api.create("t5-small", tags={"owner": "bert-team"})
    found = api.client.post(f"{api.base}/search", json={"query": "bert-team"}).get_json()
    assert [r[api.id_name] for r in found["results"]] == [tagged[api.id_name]]
    limited = api.client.post(f"{api.base}/search", json={"query": "bert", "limit": 1})
    assert limited.get_json()["count"] == 1
    filtered = api.client.post(
        f"{api.base}/search", json={"query": "bert", "model_name": "bert-large"}
    ).get_json()
    assert [r["model_name"] for r in filtered["results"]] == ["bert-large"]


def test_search_text_is_never_sql(api):
    """Quotes, wildcards and statements in a search are text to match, nothing more."""
    api.create("bert")
    for text in ["' OR 1=1 --", "%", "_", "bert'; DROP TABLE x; --"]:
        body = api.client.post(f"{api.base}/search", json={"query": text}).get_json()
        assert body["count"] == 0, text
    assert api.client.get(api.items).get_json()["count"] == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"query": ""}, {"query": 5}, {"query": "x", "limit": 0}, {"query": "x", "nope": 1}],
)
def test_bad_search_is_400(api, body):
    """Reject a missing query, a bad limit or an unknown filter."""
    assert_error(api.client.post(f"{api.base}/search", json=body), 400)


def _read(fmt, data):
    if fmt == "json":
        return orjson.loads(data)
    if fmt == "ndjson":
        return [orjson.loads(line) for line in data.splitlines() if line.strip()]
    reader = pa_csv.read_csv if fmt == "csv" else pq.read_table
    return reader(io.BytesIO(data)).to_pylist()


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "parquet"])
def test_export_reads_back(api, fmt):
    """Stream the selected items in each format; the rows read back."""
    ids = {
        api.create(f"m{i}", metrics={"score": {"value": float(i)}})[api.id_name] for i in range(5)
    }
    response = api.client.post(f"{api.base}/export", json={"format": fmt})
    assert response.status_code == 200
    assert f".{fmt}" in response.headers["Content-Disposition"]
    rows = _read(fmt, response.get_data())
    assert {r[api.id_name] for r in rows} == ids
    # Kept, so an item copied elsewhere by bulk stays the same item to an idempotent create.
    assert all(len(r["content_hash"]) == 64 for r in rows)
    one = api.client.post(
        f"{api.base}/export", json={"format": fmt, "model_name": "m1", "table": "metrics"}
    )
    metrics = _read(fmt, one.get_data())
    assert [(m["name"], m["value"]) for m in metrics] == [("score", 1.0)]


def test_export_never_writes_a_path(api, tmp_path):
    """Refuse a server path (ORIGIN defect 16) and an unknown format or table."""
    target = tmp_path / "stolen.csv"
    error = assert_error(api.client.post(f"{api.base}/export", json={"path": str(target)}), 400)
    assert "never written" in error["message"] and not target.exists()
    assert_error(api.client.post(f"{api.base}/export", json={"format": "xlsx"}), 400)
    assert_error(api.client.post(f"{api.base}/export", json={"table": "secrets"}), 400)
    assert_error(api.client.post(f"{api.base}/export", json={"table": {}}), 400)


def test_empty_export_is_valid(api):
    """Export with no rows still yields a readable file."""
    for fmt in ("json", "csv", "parquet"):
        response = api.client.post(f"{api.base}/export", json={"format": fmt})
        assert _read(fmt, response.get_data()) == []
