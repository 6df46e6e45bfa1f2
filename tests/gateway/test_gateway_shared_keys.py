"""Two gateways on one PostgreSQL key store (``keys_url``), as on two hosts: each has its own
data folder, so nothing reaches the other through a file. They share keys, revocation, roles,
the session signing secret, rate limits and socket slots through PostgreSQL alone.
"""

import pytest
import requests
from click.testing import CliRunner

from tests.gateway.conftest import start_gateway
from tests.gateway.keystores import flags, fresh_url
from tests.support import NAMES, raw_request, wait_until
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.gateway.relay import RelayClient
from unified_api_server.tools.keys import keys as keys_cli

OVERVIEW = "/api/db/overview"
STREAMS = 3  # change streams one key may hold open, across every gateway


@pytest.fixture(scope="module")
def store(postgres):
    """Return a fresh key store in the session's PostgreSQL."""
    return KeyStore(fresh_url(postgres))


@pytest.fixture(scope="module")
def pair(tmp_path_factory, components, store):
    """Start two gateways, each with its own folder, on the one PostgreSQL key store."""
    urls = {name: components[name].url for name in NAMES}
    started = []
    try:
        for label in ("host-a", "host-b"):
            folder = tmp_path_factory.mktemp(label)
            started.append(
                start_gateway(
                    folder,
                    urls,
                    folder / "keys.sqlite3",
                    label=label,
                    keys_url=store.path,
                    streams_per_key=STREAMS,
                )
            )
        yield started
    finally:
        for service in started:
            service.stop()


def status(gateway, key):
    """Return the status of a keyed read through ``gateway``."""
    return requests.get(gateway.url + OVERVIEW, headers={"X-API-Key": key}, timeout=10).status_code


def test_a_revocation_is_honoured_by_both_gateways_within_five_seconds(pair, store):
    """A key revoked with the CLI on the shared store is refused by both gateways within 5 s."""
    key = store.create("shared-revoked", "read")
    assert [status(gateway, key) for gateway in pair] == [200, 200]
    revoked = CliRunner().invoke(keys_cli, ["revoke", "shared-revoked", *flags(store.path)])
    assert revoked.exit_code == 0, revoked.output

    def refused_by_both():
        # Four tries per gateway: each has two workers, each with its own key cache. The
        # answers checked are these refusals themselves: a further request could still reach
        # a worker whose cached lookup (key_cache_ttl, 2 s) has not yet run out.
        answers = [
            requests.get(gateway.url + OVERVIEW, headers={"X-API-Key": key}, timeout=10)
            for gateway in pair
            for _ in range(4)
        ]
        return all(
            answer.status_code == 401
            and answer.json()["error"]["message"] == "API key has been revoked"
            for answer in answers
        )

    wait_until(refused_by_both, timeout=5, message="both gateways refusing the revoked key")


def test_a_session_signed_in_on_one_gateway_works_on_the_other(pair, store):
    """The signing secret lives in the shared store: one gateway's session is the other's."""
    key = store.create("shared-session", "read")
    signed_in = requests.post(
        pair[0].url + "/ui/login", data={"api_key": key}, allow_redirects=False, timeout=10
    )
    token = signed_in.cookies["uas_session"]
    bearer = {"Authorization": f"Bearer {token}"}
    answers = [requests.get(g.url + OVERVIEW, headers=bearer, timeout=10) for g in pair]
    assert [answer.status_code for answer in answers] == [200, 200]


def test_signing_out_on_one_gateway_ends_the_session_on_the_other(pair, store):
    """A Bearer token signed out on one gateway is refused by the other within 5 s."""
    key = store.create("shared-signed-out", "read")
    signed_in = requests.post(
        pair[0].url + "/ui/login", data={"api_key": key}, allow_redirects=False, timeout=10
    )
    bearer = {"Authorization": f"Bearer {signed_in.cookies['uas_session']}"}
    assert requests.get(pair[1].url + OVERVIEW, headers=bearer, timeout=10).status_code == 200
    assert requests.post(pair[0].url + "/ui/logout", headers=bearer, timeout=10).status_code == 204

    def refused_by_the_other():
        answers = [
            requests.get(pair[1].url + OVERVIEW, headers=bearer, timeout=10) for _ in range(4)
        ]
        return all(answer.status_code == 401 for answer in answers)

    wait_until(refused_by_the_other, timeout=5, message="the other gateway ending the session")


def test_a_keys_rate_limit_is_counted_across_both_gateways(pair, store):
    """A burst of 2 spent on the first gateway leaves nothing on the second: one counter."""
    key = store.create("shared-limited", "read", rate=0.5, burst=2)  # 2 per 4 s window
    path = "/api/db/test/runs?limit=1"
    headers = {"X-API-Key": key}
    first = [raw_request(pair[0].port, "GET", path, headers)[0] for _ in range(2)]
    over, answer_headers, body = raw_request(pair[1].port, "GET", path, headers)
    assert first == [200, 200] and over == 429, (first, over)
    assert b"'shared-limited'" in body and "retry-after" in {h.lower() for h in answer_headers}


def test_socket_slots_are_counted_across_both_gateways(pair, store):
    """A key allowed 3 change streams holds 3 across both gateways, not 3 on each."""
    key = store.create("shared-sockets", "read")
    opened = []
    try:
        for number in range(STREAMS):
            gateway = pair[number % 2]
            opened.append(
                RelayClient.connect(
                    f"ws://127.0.0.1:{gateway.port}/api/db/ws", headers={"X-API-Key": key}
                )
            )
        refused = raw_request(
            pair[0].port,
            "GET",
            "/api/db/ws",
            {
                "X-API-Key": key,
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert refused[0] == 429 and b"already holds 3 open change streams" in refused[2]
    finally:
        for client in opened:
            client.close()


def test_a_key_store_that_goes_away_answers_503_naming_it(tmp_path, components):
    """PostgreSQL stopping under a gateway: keyed requests get 503 saying why, never a 500."""
    from tests import pg

    server = pg.PostgresServer().start()
    gateway = None
    try:
        url = server.create_database("going")
        key = KeyStore(url).create("short-lived", "read")
        urls = {name: components[name].url for name in NAMES}
        gateway = start_gateway(
            tmp_path, urls, tmp_path / "keys.sqlite3", label="gone", keys_url=url, key_cache_ttl=0
        )
        assert status(gateway, key) == 200
        server.stop()
        answer = requests.get(gateway.url + OVERVIEW, headers={"X-API-Key": key}, timeout=10)
        assert answer.status_code == 503
        assert "key store is unavailable" in answer.json()["error"]["message"]
        health = requests.get(gateway.url + "/health", timeout=10)
        assert health.status_code == 503 and health.json()["key_store"]["ok"] is False
    finally:
        if gateway is not None:
            gateway.stop()
        server.stop()
