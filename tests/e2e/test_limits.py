"""Rate limits through nginx and the gateway: the same counters, headers and 429 envelope."""

import os

import pytest
import requests

from unified_api_server.gateway.keys import KeyStore

PATHS = ["/api/db/test/runs?limit=1", "/api/test/db/runs?limit=1", "/api/db/overview"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("entry", ["gateway", "nginx"])
def test_over_its_rate_a_key_gets_429_with_the_headers(suite, entry, path):
    """Burst 2: two answers carry RateLimit-*, the third is 429 with Retry-After, in JSON."""
    if entry == "nginx" and not suite.has_nginx:
        pytest.skip("nginx is not installed")
    store = KeyStore(os.path.join(suite.data_dir, "keys.sqlite3"))
    name = f"e2e-rate-{entry}-{path.split('?')[0].replace('/', '-')}"
    key = store.create(name, "read", rate=0.2, burst=2)
    answers = [
        requests.get(suite.url(entry) + path, headers={"X-API-Key": key}, timeout=30)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    for answer in answers:
        assert answer.headers["RateLimit-Limit"] == "2"
        assert 1 <= int(answer.headers["RateLimit-Reset"]) <= 10
    refused = answers[-1]
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
