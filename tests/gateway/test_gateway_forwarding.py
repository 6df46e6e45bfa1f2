"""Forwarding: methods, query strings, bodies both ways, headers, status codes (ORIGIN defect 4)."""

import hashlib
import json
import os
import uuid

import pytest

from tests.gateway.conftest import ENTITY, client
from tests.support import rss_kb

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@pytest.fixture()
def fault_api(fault_gateway, keys):
    """Return a session for the fault gateway with an admin key."""
    return client(fault_gateway, keys["admin"])


@pytest.mark.parametrize("method", ALL_METHODS)
def test_every_method_reaches_the_component_with_query_and_body(fault_api, method):
    """Each method arrives unchanged with its exact query string and body."""
    body = os.urandom(3000) if method not in ("GET", "HEAD", "OPTIONS") else None
    query = "model_name=bert%20base&limit=5&tag=a&tag=b&empty="
    response = fault_api.call(method, f"/api/test/db/echo?{query}", data=body)
    assert response.status_code == 200
    if method == "HEAD":
        assert response.content == b""
        return
    seen = response.json()
    assert seen["method"] == method
    assert seen["path"] == f"/api/test/db/echo?{query}"
    if body is not None:
        assert seen["body_size"] == len(body)
        assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_both_prefixes_map_to_the_component_path(fault_api):
    """``/api/db/{c}/x`` goes to ``/api/{c}/db/x`` and ``/api/{c}/x`` goes unchanged."""
    for component in ENTITY:
        assert fault_api.call("GET", f"/api/db/{component}/echo?a=1").json()["path"] == (
            f"/api/{component}/db/echo?a=1"
        )
        assert fault_api.call("GET", f"/api/{component}/status/echo").json()["path"] == (
            f"/api/{component}/status/echo"
        )


def test_headers_forwarded_and_hop_by_hop_dropped(fault_gateway, fault_api):
    """X-Forwarded-*, X-Request-ID go up; keys and hop-by-hop headers do not; ids come back."""
    response = fault_api.call(
        "GET",
        "/api/test/db/echo",
        headers={
            "X-Request-ID": "req-123.abc",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "must-not-pass",
            "X-Custom": "passes",
            "Authorization": "Bearer whatever",
        },
    )
    seen = response.json()["headers"]
    assert response.headers["X-Request-ID"] == "req-123.abc"
    assert seen["x-request-id"] == "req-123.abc"
    assert seen["x-custom"] == "passes"
    assert "x-secret-hop" not in seen
    assert "x-api-key" not in seen and "authorization" not in seen
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{fault_gateway.port}"
    assert seen["x-api-key-name"] == "t-admin"
    # the component's own hop-by-hop header (named in its Connection header) is dropped too
    assert "X-Custom-Hop" not in response.headers


def test_request_id_is_made_when_missing_or_unsafe(fault_api):
    """A missing or unsafe X-Request-ID is replaced by a fresh one, sent up and returned."""
    for given in (None, "bad id with spaces", "x" * 500):
        headers = {"X-Request-ID": given} if given else {}
        response = fault_api.call("GET", "/api/test/db/echo", headers=headers)
        made = response.headers["X-Request-ID"]
        assert made != given and len(made) == 32
        assert response.json()["headers"]["x-request-id"] == made


def test_component_status_codes_are_preserved(fault_api):
    """Whatever status the component answers is what the client gets."""
    for status in (201, 400, 404, 409, 413, 500):
        response = fault_api.call(
            "GET", "/api/test/db/echo", headers={"X-Echo-Status": str(status)}
        )
        assert response.status_code == status


def test_streamed_chunked_upload_and_large_download_stay_out_of_memory(fault_gateway, fault_api):
    """A 200 MB chunked upload and a 200 MB download pass without growing the gateway's memory."""
    size = 200 * 1024 * 1024
    workers = fault_gateway.child_pids()
    before = max(rss_kb(pid) for pid in workers)
    block = b"z" * (1 << 20)
    digest = hashlib.sha256()
    for _ in range(size // len(block)):
        digest.update(block)

    def chunks():
        for _ in range(size // len(block)):
            yield block

    response = fault_api.call("POST", "/api/test/db/sink/echo", data=chunks(), timeout=120)
    assert response.status_code == 200
    assert response.json()["body_size"] == size
    assert response.json()["body_sha256"] == digest.hexdigest()
    received = 0
    with fault_api.call("GET", f"/api/test/db/source?bytes={size}", stream=True, timeout=120) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(1 << 20):
            received += len(chunk)
    assert received == size
    after = max(rss_kb(pid) for pid in workers)
    assert after - before < 40 * 1024, f"gateway worker grew {after - before} KiB"


def test_real_component_crud_and_filters_through_the_gateway(api):
    """Create, bulk-ingest, filter, patch and delete test runs through both prefixes."""
    model = f"fwd-{uuid.uuid4().hex[:8]}"
    created = api.call("POST", "/api/db/test/runs", json={"model_name": model, "status": "running"})
    assert created.status_code == 201
    run_id = created.json()["run_id"]
    assert created.headers["Location"].endswith(run_id)
    lines = "".join(
        json.dumps({"model_name": model, "status": "completed"}) + "\n" for _ in range(30)
    )

    def ndjson():
        yield lines.encode()

    bulk = api.call(
        "POST",
        "/api/test/db/runs/bulk",
        data=ndjson(),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert bulk.status_code == 201, bulk.text
    assert bulk.json()["stored"] == 30
    page = api.call("GET", f"/api/db/test/runs?model_name={model}&limit=7").json()
    assert len(page["runs"]) == 7 and {run["model_name"] for run in page["runs"]} == {model}
    other = api.call("GET", "/api/test/db/runs?model_name=nobody-at-all").json()
    assert other["runs"] == []
    patched = api.call("PATCH", f"/api/db/test/run/{run_id}", json={"status": "completed"})
    assert patched.status_code == 200 and patched.json()["status"] == "completed"
    head = api.call("HEAD", f"/api/test/db/run/{run_id}")
    assert head.status_code == 200 and head.content == b""
    assert api.call("DELETE", f"/api/db/test/run/{run_id}").status_code in (200, 204)
    missing = api.call("GET", f"/api/db/test/run/{run_id}")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == 404


def test_export_streams_through_the_gateway(api):
    """The streaming export arrives complete through the gateway."""
    model = f"exp-{uuid.uuid4().hex[:8]}"
    rows = [{"model_name": model, "status": "failed"} for _ in range(500)]
    assert api.call("POST", "/api/db/test/runs/bulk", json=rows).status_code == 201
    with api.call(
        "POST", "/api/db/test/export?format=ndjson", json={"model_name": model}, stream=True
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    assert len(lines) == 500
    assert all(json.loads(line)["model_name"] == model for line in lines)
