"""The cross-component views and the index/health routes, over real components (defects 2, 15)."""

import uuid
from datetime import datetime
from urllib.parse import quote

import pytest

from tests.gateway.conftest import ENTITY
from tests.support import NAMES

TOTAL_FIELD = {
    "test": "total_test_runs",
    "generator": "total_generator_tasks",
    "benchmark": "total_benchmark_runs",
}
RATE_FIELD = {
    "test": "test_success_rate",
    "generator": "generator_success_rate",
    "benchmark": "benchmark_success_rate",
}
RECENT_FIELD = {
    "test": "recent_test_runs",
    "generator": "recent_generator_tasks",
    "benchmark": "recent_benchmark_runs",
}


def _iso(text):
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None
    return moment


@pytest.fixture(scope="module")
def seeded(gateway, keys):
    """Store 15 records per available component for one model: 12 completed, 3 failed."""
    from tests.gateway.conftest import client

    api = client(gateway, keys["rw"])
    model = f"view-{uuid.uuid4().hex[:8]}/base"
    for name in NAMES:
        cpu, cuda = ("cpu", "cuda") if name == "benchmark" else (["cpu"], ["cuda"])  # one device
        rows = [{"model_name": model, "status": "completed", "hardware": cpu}] * 12
        rows += [{"model_name": model, "status": "failed", "hardware": cuda}] * 3
        response = api.call("POST", f"/api/db/{name}/{ENTITY[name]}/bulk", json=rows)
        assert response.status_code == 201, response.text
    return model


def test_index_lists_services_and_endpoints(api):
    """GET / lists the three services and the endpoints."""
    body = api.call("GET", "/").json()
    assert set(body["services"]) == set(ENTITY)
    assert "GET /api/db/overview" in body["endpoints"]
    assert body["services"]["test"]["database_prefix"] == "/api/db/test"


def test_health_reports_each_component(gateway):
    """200 when every component is up, 503 naming the missing ones otherwise."""
    from tests.gateway.conftest import client

    response = client(gateway).call("GET", "/health")
    body = response.json()
    assert set(body["components"]) == set(ENTITY)
    for name in NAMES:
        assert body["components"][name]["ok"] is True
    assert response.status_code == 200
    assert body["key_store"]["ok"] is True


def test_overview_fields(api, seeded):
    """Each component's model statistics, the status block, completed and a timestamp."""
    body = api.call("GET", "/api/db/overview").json()
    assert set(body) >= {
        "test_stats",
        "generator_stats",
        "benchmark_stats",
        "timestamp",
        "components",
        "completed",
    }
    _iso(body["timestamp"])
    assert body["completed"] is True
    for name in NAMES:
        models = {row["model_name"]: row for row in body[f"{name}_stats"]["models"]}
        assert models[seeded][TOTAL_FIELD[name].replace(f"total_{name}_", "total_")] == 15
        block = body["components"][name]
        assert (block["ok"], block["status_code"], block["error"]) == (True, 200, None)


def test_model_view_has_true_totals_and_rates(api, seeded):
    """Totals and success rates cover all 15 records, not the last 10 (defect 15)."""
    path = "/api/db/model/" + quote(seeded, safe="")
    body = api.call("GET", path).json()
    assert body["model_name"] == seeded
    _iso(body["timestamp"])
    assert set(body["overview"]) == set(TOTAL_FIELD.values()) | set(RATE_FIELD.values())
    for name in NAMES:
        assert body["overview"][TOTAL_FIELD[name]] == 15
        assert body["overview"][RATE_FIELD[name]] == pytest.approx(0.8)
        recent = body[RECENT_FIELD[name]]
        assert len(recent) == 10 and {row["model_name"] for row in recent} == {seeded}
        assert body["components"][name]["ok"] is True
    more = api.call("GET", path + "?limit=50").json()
    for name in NAMES:
        assert len(more[RECENT_FIELD[name]]) == 15
    hardware = {row["hardware"] for row in body["benchmark_summary"]}
    assert hardware == {"cpu", "cuda"}


def test_model_view_of_unknown_model_is_zero(api):
    """A model nobody has seen: zero totals, no rate, empty lists, still 200."""
    body = api.call("GET", "/api/db/model/never-seen-model").json()
    for name in NAMES:
        assert body["overview"][TOTAL_FIELD[name]] == 0
        assert body["overview"][RATE_FIELD[name]] is None
        assert body[RECENT_FIELD[name]] == []


def test_model_view_bad_limit(api):
    """A limit outside 1..100 is a 400 in the shared shape."""
    response = api.call("GET", "/api/db/model/bert?limit=0")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("form", ["query", "json"])
def test_search_fields(api, seeded, form):
    """Search by query string or JSON body returns each component's results and counts."""
    if form == "query":
        response = api.call("POST", f"/api/db/search?query={quote(seeded)}&limit=5")
    else:
        response = api.call("POST", "/api/db/search", json={"query": seeded, "limit": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == seeded
    _iso(body["timestamp"])
    counts = body["result_counts"]
    assert set(counts) == {"test", "generator", "benchmark", "total"}
    for name in ENTITY:
        assert counts[name] == len(body[f"{name}_results"])
    assert counts["total"] == counts["test"] + counts["generator"] + counts["benchmark"]
    for name in NAMES:
        assert counts[name] == 5
        assert all(row["model_name"] == seeded for row in body[f"{name}_results"])


@pytest.mark.parametrize(
    "path,kwargs",
    [
        ("/api/db/search", {}),
        ("/api/db/search?query=", {}),
        ("/api/db/search?query=bert&limit=0", {}),
        ("/api/db/search?query=bert&limit=1001", {}),
        ("/api/db/search?query=bert&limit=abc", {}),
        ("/api/db/search?query=bert&color=red", {}),
        ("/api/db/search", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
        ("/api/db/search", {"json": ["bert"]}),
        ("/api/db/search", {"json": {"query": 42}}),
        ("/api/db/search", {"json": {"query": "bert", "limit": 5000}}),
    ],
)
def test_malformed_search_is_400(api, path, kwargs):
    """Malformed searches answer 400 in the shared error shape."""
    response = api.call("POST", path, **kwargs)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["status"] == 400


def test_views_apply_the_filters(api, seeded):
    """The views filter every component alike: 3 of the 15 records ran on cuda."""
    body = api.call("GET", "/api/db/overview?hardware=cuda&model_name=" + quote(seeded)).json()
    for name in NAMES:
        (row,) = body[f"{name}_stats"]["models"]
        assert row[TOTAL_FIELD[name].replace(f"total_{name}_", "total_")] == 3
    path = "/api/db/model/" + quote(seeded, safe="") + "?status=completed&limit=50"
    model = api.call("GET", path).json()
    for name in NAMES:
        assert model["overview"][TOTAL_FIELD[name]] == 12
        assert len(model[RECENT_FIELD[name]]) == 12
    found = api.call("POST", f"/api/db/search?query={quote(seeded)}&status=failed").json()
    assert all(found["result_counts"][name] == 3 for name in NAMES)


def test_a_filter_some_components_lack_skips_them(api, seeded):
    """precision is the benchmark's own: the others hold no such data and are not called."""
    body = api.call("GET", "/api/db/overview?precision=fp32&model_name=" + quote(seeded)).json()
    assert body["completed"] is True
    assert body["benchmark_stats"]["models"][0]["total_runs"] == 15
    for name in ("test", "generator"):
        assert body[f"{name}_stats"] is None
        assert "precision" in body["components"][name]["skipped"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/db/overview?bogus=1",
        "/api/db/overview?precision=fp99",
        "/api/db/overview?duration__gt=slow",
        "/api/db/overview?sort=-duration",
        "/api/db/model/bert?model_name=gpt2",
        "/api/db/model/bert?since=yesterday",
    ],
)
def test_views_refuse_unknown_or_malformed_terms(api, path):
    """Nothing is silently ignored: a 400 naming the term."""
    response = api.call("GET", path)
    assert response.status_code == 400, response.text
    term = path.split("?")[1].split("=")[0]
    error = response.json()["error"]
    assert term.split("__")[0] in error["message"] + str(error.get("details")), error


def test_unknown_routes_are_404_json(api):
    """Unknown gateway paths and methods answer in the shared error shape."""
    for method, path in (("GET", "/api/db/nothing"), ("GET", "/api"), ("GET", "/api/db/test")):
        response = api.call(method, path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = api.call("DELETE", "/api/db/overview")
    assert response.status_code == 405 and response.json()["error"]["status"] == 405


def test_the_gateway_patches_before_importing_an_http_client(gateway):
    """gevent patches the standard library in each worker before urllib3 is imported."""
    with open(gateway.log_path, encoding="utf-8") as handle:
        assert "MonkeyPatchWarning" not in handle.read()
