"""The views' cache over real processes: hits, ETags and 304, invalidation by the change
streams, Redis shared by two gateways, and no cached answer while a component's stream is down.
"""

import shutil
import subprocess
import uuid

import pytest
import redis

from tests.gateway.conftest import ENTITY, client, start_gateway
from tests.support import NAMES, ServiceProcess, free_port, wait_until

OVERVIEW = "/api/db/overview"


@pytest.fixture(scope="module")
def cache_gateway(work_dir, components, keys_db, keys):
    """A gateway with one worker, so that its in-process cache answers every request."""
    urls = {name: components[name].url for name in NAMES}
    service = start_gateway(work_dir, urls, keys_db, label="cache-gateway", workers=1)
    yield service
    service.stop()


def _store(api, name, model=None):
    """Store one item in component ``name`` through the gateway (a committed write)."""
    rows = [{"model_name": model or f"cache-{uuid.uuid4().hex[:8]}", "status": "completed"}]
    response = api.call("POST", f"/api/db/{name}/{ENTITY[name]}/bulk", json=rows)
    assert response.status_code == 201, response.text


def _cached(api, path=OVERVIEW, outcome="hit", **kwargs):
    """Ask ``path`` until it answers with X-Cache ``outcome`` (the streams open in the
    background when a worker first serves a view); return that answer."""

    def answered():
        response = api.call("GET", path, **kwargs)
        assert response.status_code == 200, response.text
        return response if response.headers.get("X-Cache") == outcome else None

    return wait_until(answered, timeout=30, message=f"{path} answering X-Cache: {outcome}")


def test_a_second_overview_is_a_hit_with_the_same_etag(cache_gateway, keys):
    api = client(cache_gateway, keys["read"])
    first = _cached(api, outcome="miss")
    second = api.call("GET", OVERVIEW)
    assert second.headers["X-Cache"] == "hit"
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.json() == first.json()
    assert second.headers["Cache-Control"] == "private, no-cache"
    counted = client(cache_gateway, keys["admin"]).call("GET", "/metrics").text
    assert 'uas_cache_hits_total{cache="gateway.overview"}' in counted


def test_if_none_match_is_304_until_a_write_changes_the_answer(cache_gateway, keys):
    api = client(cache_gateway, keys["rw"])
    etag = _cached(api).headers["ETag"]
    unchanged = api.call("GET", OVERVIEW, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["ETag"] == etag
    for name in NAMES:
        _store(api, name)

        def changed(etag=etag):
            response = api.call("GET", OVERVIEW, headers={"If-None-Match": etag})
            return response if response.status_code == 200 else None

        fresh = wait_until(changed, timeout=10, interval=0.01, message=f"{name}'s write seen")
        assert fresh.headers["X-Cache"] == "miss" and fresh.headers["ETag"] != etag
        etag = _cached(api).headers["ETag"]


def test_every_view_is_keyed_by_its_whole_question(cache_gateway, keys):
    api = client(cache_gateway, keys["rw"])
    model = f"cache-{uuid.uuid4().hex[:8]}"
    _store(api, "test", model)
    one = _cached(api, f"/api/db/model/{model}", outcome="miss")
    # The write's own change event may reach the gateway after that first answer: a hit follows.
    _cached(api, f"/api/db/model/{model}", outcome="hit")
    assert api.call("GET", f"/api/db/model/{model}?limit=3").headers["X-Cache"] == "miss"
    assert api.call("GET", f"/api/db/model/{model}x").headers["X-Cache"] == "miss"
    assert one.json()["overview"]["total_test_runs"] == 1
    filtered = api.call("GET", f"{OVERVIEW}?model_name={model}&status=completed")
    reordered = api.call("GET", f"{OVERVIEW}?status=completed&model_name={model}")
    assert (filtered.headers["X-Cache"], reordered.headers["X-Cache"]) == ("miss", "hit")
    searches = [
        api.call("POST", "/api/db/search", json={"query": model, "limit": limit})
        for limit in (5, 5, 6)
    ]
    assert [s.headers["X-Cache"] for s in searches] == ["miss", "hit", "miss"]
    assert searches[0].json()["result_counts"]["test"] == 1


def test_component_statistics_are_cached_and_every_json_read_has_an_etag(cache_gateway, keys):
    api = client(cache_gateway, keys["rw"])
    for name in NAMES:
        path = f"/api/{name}/db/models/stats"
        api.call("GET", path)  # whatever an earlier test left, this is now cached
        assert api.call("GET", path).headers["X-Cache"] == "hit"
        _store(api, name)  # the component's own write path drops its entries at once
        assert api.call("GET", path).headers["X-Cache"] == "miss"
        listed = api.call("GET", f"/api/{name}/db/{ENTITY[name]}?limit=2")
        assert "X-Cache" not in listed.headers and listed.headers["ETag"]
        again = api.call(
            "GET",
            f"/api/{name}/db/{ENTITY[name]}?limit=2",
            headers={"If-None-Match": "W/x, " + listed.headers["ETag"]},
        )
        assert again.status_code == 304 and again.content == b""


def test_a_component_whose_stream_cannot_open_is_never_served_from_the_cache(fault_gateway, keys):
    """The fault servers forward plain HTTP only: the data answers, its changes go unheard."""
    api = client(fault_gateway, keys["read"])
    for _ in range(3):
        response = api.call("GET", OVERVIEW)
        assert response.status_code == 200 and response.headers["X-Cache"] == "bypass"
        assert response.json()["completed"] is True
        assert response.headers["ETag"]


def test_a_stopped_component_bypasses_the_cache_until_its_stream_is_back(
    tmp_path, components, keys_db, keys
):
    port = free_port()
    own = ServiceProcess.component("test", tmp_path, port=port).wait_ready()
    urls = {name: components[name].url for name in NAMES}
    urls["test"] = own.url
    gateway = start_gateway(tmp_path, urls, keys_db, label="stop-gateway", workers=1)
    try:
        api = client(gateway, keys["rw"])
        _cached(api)
        own.stop()
        gone = _cached(api, outcome="bypass")
        assert gone.json()["completed"] is False
        own = ServiceProcess.component("test", tmp_path, port=port).wait_ready()
        _store(api, "test")
        _cached(api, outcome="miss")
        assert api.call("GET", OVERVIEW).headers["X-Cache"] == "hit"
    finally:
        gateway.stop()
        own.stop()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """Start a real redis-server on a free port; skip when none is installed."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/install-system-deps installs it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )

    url = f"redis://127.0.0.1:{port}/0"

    def answers():
        try:
            return redis.Redis.from_url(url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    try:
        wait_until(answers, timeout=15, message="redis-server listening")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_redis_shares_entries_across_workers_and_gateways(
    work_dir, components, keys_db, keys, redis_url
):
    urls = {name: components[name].url for name in NAMES}
    gateways = [
        start_gateway(work_dir, urls, keys_db, label=f"redis-gateway-{n}", cache_url=redis_url)
        for n in (1, 2)
    ]
    try:
        first, second = (client(g, keys["rw"]) for g in gateways)

        def shared():
            answers = [api.call("GET", OVERVIEW) for api in (first, second, first, second)]
            outcomes = {a.headers["X-Cache"] for a in answers}
            return outcomes == {"hit"} and len({a.headers["ETag"] for a in answers}) == 1

        # Four answers from two gateways of two workers each, all one entry: shared.
        wait_until(shared, timeout=30, interval=0.05, message="one entry for both gateways")
        etag = first.call("GET", OVERVIEW).headers["ETag"]
        _store(first, "generator")

        def changed_everywhere():
            return all(api.call("GET", OVERVIEW).headers["ETag"] != etag for api in (first, second))

        wait_until(changed_everywhere, timeout=10, interval=0.01, message="the write seen")
    finally:
        for gateway in gateways:
            gateway.stop()
