"""Per-key rate limits across every gateway worker, with the standard headers (429 in JSON)."""

import http.client
import json

from tests.support import wait_until


def _get(gateway, path, key):
    """One request on a fresh connection (so the two workers share the work)."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.request("GET", path, headers={"X-API-Key": key, "Connection": "close"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_keys_rate_holds_across_workers_and_every_answer_says_so(gateway, store):
    """Burst 3 over a 3 s window: 3 answers in any worker, then 429 with Retry-After."""
    key = store.create("t-rate-3", "read", rate=1, burst=3)
    answers = [_get(gateway, "/api/db/test/runs?limit=1", key) for _ in range(8)]
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) == 3 and statuses.count(429) == 5, statuses
    for _, headers, _ in answers:
        assert headers["RateLimit-Limit"] == "3"
        assert 1 <= int(headers["RateLimit-Reset"]) <= 3
    assert [h["RateLimit-Remaining"] for s, h, _ in answers if s == 200] == ["2", "1", "0"]
    _, headers, body = answers[-1]
    error = json.loads(body)["error"]
    assert error["code"] == "too_many_requests" and "t-rate-3" in error["message"]
    assert 1 <= int(headers["Retry-After"]) <= 3 and headers["RateLimit-Remaining"] == "0"


def test_views_and_refusals_count_too(gateway, store):
    """The gateway's own views carry the headers; a 404 counts like any request."""
    key = store.create("t-rate-views", "read", rate=1, burst=2)
    status, headers, _ = _get(gateway, "/api/db/overview", key)
    assert status == 200 and headers["RateLimit-Remaining"] == "1"
    assert _get(gateway, "/api/db/nothing-here", key)[0] == 404
    assert _get(gateway, "/api/db/overview", key)[0] == 429


def test_a_keys_rate_can_be_changed_without_a_restart(gateway, store):
    """set_rate (the CLI's ``keys set-rate``) reaches every worker within the key cache's 2 s."""
    key = store.create("t-rate-change", "read", rate=1, burst=1)
    assert _get(gateway, "/api/db/test/runs?limit=1", key)[0] == 200
    assert _get(gateway, "/api/db/test/runs?limit=1", key)[0] == 429
    store.set_rate("t-rate-change", 0, None)  # 0: no limit
    wait_until(
        lambda: all(_get(gateway, "/api/db/test/runs?limit=1", key)[0] == 200 for _ in range(4)),
        timeout=10,
        interval=0.5,
        message="the new rate in force",
    )
    status, headers, _ = _get(gateway, "/api/db/test/runs?limit=1", key)
    assert status == 200 and "RateLimit-Limit" not in headers
