"""Prometheus metrics scraped from real processes: a gateway of two workers and a component.

Both run with the internal credential, as deployed. Each test reads ``/metrics`` before and
after its requests and checks the difference under the labels it expects; the gateway is this
module's own, so its totals are exact, and its two workers' files add up to what was sent.
"""

import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.contract.api import valid_item
from tests.support import NAMES, ServiceProcess, wait_until
from unified_api_server.registry import BY_NAME

TOKEN = secrets.token_urlsafe(16)
TEST = BY_NAME["test"]
RUNS = "/api/test/db/runs"


@pytest.fixture(scope="module")
def component(work_dir):
    """Start the test component, requiring the internal credential."""
    folder = work_dir / "metrics-component"
    folder.mkdir()
    service = ServiceProcess.component("test", folder, extra_args=("--internal-token", TOKEN))
    yield service.wait_ready()
    service.stop()


@pytest.fixture(scope="module")
def gateway(work_dir, component, keys_db):
    """Start a gateway of two workers in front of it (the other components point nowhere)."""
    urls = {name: "http://127.0.0.1:9" for name in NAMES}
    urls["test"] = component.url
    service = ServiceProcess.gateway(
        urls,
        keys_db,
        work_dir / "metrics-gateway.log",
        workers=2,
        internal_token=TOKEN,
        metrics_dir=work_dir / "metrics-files",
    )
    yield service.wait_ready(statuses=(200, 503))
    service.stop()


@pytest.fixture(scope="module")
def mkeys(store):
    """Return this module's keys: admin, read+write, read, and one allowed a single request."""
    return {
        "admin": store.create("metrics-admin", "admin"),
        "rw": store.create("metrics-rw", "read,write"),
        "read": store.create("metrics-read", "read"),
        "limited": store.create("metrics-limited", "read", rate=0.001, burst=1),
    }


def scrape(service, **headers):
    """Return ``{(name, labels...): value}`` of every sample ``service``'s /metrics shows."""
    response = requests.get(service.url + "/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    """Return the sample ``name`` with exactly ``labels`` (0 when absent)."""
    return samples.get((name, *sorted((k, str(v)) for k, v in labels.items())), 0.0)


def test_gateway_metrics_need_the_admin_scope(gateway, mkeys):
    assert requests.get(gateway.url + "/metrics", timeout=30).status_code == 401
    read = requests.get(gateway.url + "/metrics", headers={"X-API-Key": mkeys["read"]}, timeout=30)
    assert read.status_code == 403 and read.json()["error"]["status"] == 403
    samples = scrape(gateway, **{"X-API-Key": mkeys["admin"]})
    assert value(samples, "uas_auth_failures_total", reason="missing_key") >= 1
    assert value(samples, "uas_auth_failures_total", reason="scope") >= 1


def test_component_metrics_need_the_internal_credential(component):
    refused = requests.get(component.url + "/metrics", timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["status"] == 401
    samples = scrape(component, **{"X-Internal-Token": TOKEN})
    assert value(samples, "uas_http_requests_total", route="/health", method="GET", status="200")


def _known_requests(gateway, mkeys, rows):
    """Send a list, a create, a bulk of ``rows``, a 404 and two requests of a limited key."""
    session = requests.Session()
    session.headers["X-API-Key"] = mkeys["rw"]
    assert session.get(gateway.url + RUNS, timeout=30).status_code == 200
    body = valid_item(TEST, "metrics-model")
    assert session.post(gateway.url + RUNS, json=body, timeout=30).status_code == 201
    bulk = b"\n".join(orjson.dumps(valid_item(TEST, f"bulk-{i}")) for i in range(rows))
    assert session.post(gateway.url + RUNS + "/bulk", data=bulk, timeout=30).status_code == 201
    assert session.get(gateway.url + "/api/test/db/run/no-such-run", timeout=30).status_code == 404
    limited = {"X-API-Key": mkeys["limited"]}
    statuses = [requests.get(gateway.url + RUNS, headers=limited, timeout=30) for _ in range(2)]
    assert [r.status_code for r in statuses] == [200, 429]


def _delta(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


def test_known_requests_are_counted_under_their_labels(gateway, component, mkeys):
    rows = 7
    admin, internal = {"X-API-Key": mkeys["admin"]}, {"X-Internal-Token": TOKEN}
    gw_before, c_before = scrape(gateway, **admin), scrape(component, **internal)
    _known_requests(gateway, mkeys, rows)
    gw, comp = scrape(gateway, **admin), scrape(component, **internal)

    def gw_requests(method, status):
        labels = {"route": "/api/test/*", "method": method, "status": status}
        return _delta(gw_before, gw, "uas_http_requests_total", **labels)

    # Two lists (one by the limited key), a 404, a create and a bulk; one refused at the door.
    assert (gw_requests("GET", "200"), gw_requests("GET", "404")) == (2, 1)
    assert (gw_requests("POST", "201"), gw_requests("GET", "429")) == (2, 1)
    assert _delta(gw_before, gw, "uas_rate_limited_total", limit="rate") == 1
    upstream = {"component": "test"}
    assert _delta(gw_before, gw, "uas_upstream_requests_total", outcome="2xx", **upstream) == 4
    assert _delta(gw_before, gw, "uas_upstream_requests_total", outcome="4xx", **upstream) == 1
    assert _delta(gw_before, gw, "uas_upstream_request_duration_seconds_count", **upstream) == 5

    def c_requests(route, method, status):
        labels = {"route": route, "method": method, "status": status}
        return _delta(c_before, comp, "uas_http_requests_total", **labels)

    assert c_requests(RUNS, "GET", "200") == 2 and c_requests(RUNS, "POST", "201") == 1
    assert c_requests(RUNS + "/bulk", "POST", "201") == 1
    assert c_requests("/api/test/db/run/<item_id>", "GET", "404") == 1
    assert _delta(c_before, comp, "uas_rows_ingested_total", component="test", path="create") == 1
    assert _delta(c_before, comp, "uas_rows_ingested_total", component="test", path="bulk") == rows
    assert _delta(c_before, comp, "uas_db_query_duration_seconds_count", component="test") >= 3
    assert value(comp, "uas_jobs", component="test", state="running") == 0


def worker_count(folder, pid, tmp_path, **labels):
    """Return one worker's own count of ``uas_http_requests_total`` with ``labels``."""
    own = tmp_path / str(pid)
    own.mkdir(exist_ok=True)
    source = folder / f"counter_{pid}.db"
    if not source.exists():
        return 0.0
    shutil.copyfile(source, own / source.name)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(own))
    samples = {}
    for family in registry.collect():
        for sample in family.samples:
            samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return value(samples, "uas_http_requests_total", **labels)


def test_the_workers_counts_add_up(gateway, mkeys, work_dir, tmp_path):
    """Requests spread over both workers (each keeps its own file); the scrape sums them."""
    admin = {"X-API-Key": mkeys["admin"]}
    labels = {"route": "/api/openapi.json", "method": "GET", "status": "200"}
    before = value(scrape(gateway, **admin), "uas_http_requests_total", **labels)
    folder = next((work_dir / "metrics-files").iterdir())
    workers = set(gateway.child_pids())
    assert len(workers) == 2
    start = {pid: worker_count(folder, pid, tmp_path, **labels) for pid in workers}
    sent = 0

    def one(_):
        # A new connection each time: the workers take turns accepting them.
        return requests.get(gateway.url + "/api/openapi.json", timeout=30).status_code

    def both_served():
        nonlocal sent
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(one, range(16))) == {200}
        sent += 16
        return all(worker_count(folder, pid, tmp_path, **labels) > start[pid] for pid in workers)

    wait_until(both_served, timeout=120, interval=0, message="both workers serving")
    after = value(scrape(gateway, **admin), "uas_http_requests_total", **labels)
    assert after - before == sent


def test_an_unknown_method_is_counted_as_other(component):
    internal = {"X-Internal-Token": TOKEN}
    for method in ("XMETHOD0", "XMETHOD1"):
        requests.request(method, component.url + "/health", headers=internal, timeout=30)
    samples = scrape(component, **internal)
    methods = {
        dict(key[1:]).get("method") for key in samples if key[0] == "uas_http_requests_total"
    }
    assert "other" in methods and not any(m.startswith("XMETHOD") for m in methods if m)
