"""Browser sessions through a real gateway: sign-in, the cookie, Bearer use, CSRF, revocation.

Every test runs twice: with the key store in a SQLite file, then in PostgreSQL (``keys_url``).
"""

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
import simple_websocket
from click.testing import CliRunner

from tests.gateway.conftest import start_gateway
from tests.gateway.keystores import BACKENDS, flags, fresh_url
from tests.support import NAMES, raw_request, wait_until
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.gateway.relay import RelayClient
from unified_api_server.gateway.sessions import SessionTokens, load_secret
from unified_api_server.tools.keys import keys as keys_cli
from unified_api_server.tools.roles import roles as roles_cli


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, work_dir):
    """Return this module's key store: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return KeyStore(work_dir / "sessions-keys.sqlite3")
    return KeyStore(fresh_url(request.getfixturevalue("postgres")))


@pytest.fixture(scope="module")
def gateway(work_dir, components, store):
    """Start a gateway (2 workers) on this module's key store."""
    urls = {name: components[name].url for name in NAMES}
    location = {"keys_url": store.path} if store.db.kind == "postgresql" else {}
    keys_db = work_dir / "sessions-keys.sqlite3"
    label = f"sessions-gateway-{store.db.kind}"
    service = start_gateway(work_dir, urls, keys_db, label=label, view_budget=3, **location)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def people(store):
    """Keys for sessions: a viewer (role), a Test Suite reader and writer, a CI uploader."""
    return {
        "viewer": store.create("s-viewer", "", roles=["viewer"]),
        "tester": store.create("s-tester", "test:read,test:write"),
        "ci": store.create("s-ci", "", roles=["ci-uploader"]),
    }


def sign_in(gateway, key, next_path="/ui/", **headers):
    """Sign in with ``key``; return (browser session, the login answer)."""
    browser = requests.Session()
    answer = browser.post(
        gateway.url + "/ui/login",
        data={"api_key": key, "next": next_path},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    return browser, answer


def csrf_of(gateway, browser):
    """Return the session's CSRF token, as the signed-in sign-in page shows it."""
    page = browser.get(gateway.url + "/ui/login", timeout=10).text
    return re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page).group(1)


def bearer(token):
    """Return the header presenting ``token``."""
    return {"Authorization": f"Bearer {token}"}


def test_login_sets_a_strict_http_only_cookie(gateway, people):
    """A good key: 303 to ``next``, and a cookie scripts cannot read and no other site can send."""
    _, answer = sign_in(gateway, people["viewer"], "/ui/model/bert?days=7")
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"] == "/ui/model/bert?days=7"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("uas_session=eyJ")
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"):
        assert flag in cookie, cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    _, answer = sign_in(gateway, people["viewer"], **{"X-Forwarded-Proto": "https"})
    assert "Secure" in answer.headers["Set-Cookie"]


def test_bad_key_shows_the_form_again(gateway):
    """A wrong key: 401 and the form again, saying why; the form is labelled, no autocomplete."""
    _, answer = sign_in(gateway, "uas_not-a-key")
    assert answer.status_code == 401 and "Set-Cookie" not in answer.headers
    assert "That API key is not valid." in answer.text
    assert '<label for="api-key">' in answer.text and 'autocomplete="off"' in answer.text
    form = requests.get(gateway.url + "/ui/login?next=/ui/alerts", timeout=10)
    assert form.status_code == 200 and 'value="/ui/alerts"' in form.text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/ui/",
        "//evil.example/ui/",
        "/\\evil.example/ui/",
        "/api/db/overview",
        "/ui/../api/db/overview",
        "javascript:alert(1)",
        "/uifake",
    ],
)
def test_next_never_leaves_the_dashboard(gateway, people, target):
    """Only a local /ui path is followed after signing in; anything else goes to /ui/."""
    _, answer = sign_in(gateway, people["viewer"], target)
    assert answer.status_code == 303 and answer.headers["Location"] == "/ui/"


def test_session_token_works_as_bearer_with_the_keys_scopes(gateway, people):
    """The cookie's token is a Bearer token for scripts: no CSRF, the key's per-component scopes."""
    browser, _ = sign_in(gateway, people["tester"])
    token = browser.cookies["uas_session"]
    assert requests.get(gateway.url + "/api/db/test/runs", headers=bearer(token)).status_code == 200
    refused = requests.get(gateway.url + "/api/db/benchmark/runs", headers=bearer(token))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["details"] == {"missing_scope": "benchmark:read"}
    assert "'benchmark:read'" in error["message"]
    search = requests.post(gateway.url + "/api/db/search?query=bert", headers=bearer(token))
    assert search.status_code == 200  # a header credential needs no CSRF token
    assert search.json()["components"]["generator"]["skipped"].startswith("forbidden")


def test_cookie_requests_that_change_state_need_the_csrf_token(gateway, people):
    """Cookie + POST: 403 without X-CSRF-Token or with another session's, allowed with its own."""
    browser, _ = sign_in(gateway, people["viewer"])
    other, _ = sign_in(gateway, people["viewer"])
    url = gateway.url + "/api/db/search?query=bert"
    assert browser.get(gateway.url + "/api/db/overview").status_code == 200  # a read: no token
    missing = browser.post(url)
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["error"]["message"]
    foreign = browser.post(url, headers={"X-CSRF-Token": csrf_of(gateway, other)})
    assert foreign.status_code == 403 and "does not belong" in foreign.json()["error"]["message"]
    allowed = browser.post(url, headers={"X-CSRF-Token": csrf_of(gateway, browser)})
    assert allowed.status_code == 200, allowed.text


def test_page_forms_need_the_csrf_token(gateway, people):
    """A form POSTed to /ui without its token is refused; with it, sign-out clears the cookie."""
    browser, _ = sign_in(gateway, people["viewer"])
    refused = browser.post(gateway.url + "/ui/logout", allow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    token = csrf_of(gateway, browser)
    done = browser.post(
        gateway.url + "/ui/logout", data={"csrf_token": token}, allow_redirects=False
    )
    assert done.status_code == 303 and done.headers["Location"] == "/ui/login"
    assert "uas_session=;" in done.headers["Set-Cookie"]
    assert "uas_session" not in browser.cookies


def test_signing_out_ends_the_token_itself(gateway, people):
    """A copy of the cookie's token stops working after sign-out, in every worker within 5 s,
    and a script's Bearer token signs itself out (204); other sessions of the key go on."""
    browser, _ = sign_in(gateway, people["tester"])
    copied = browser.cookies["uas_session"]
    script, _ = sign_in(gateway, people["tester"])
    script_token = script.cookies["uas_session"]
    kept, _ = sign_in(gateway, people["tester"])
    overview = gateway.url + "/api/db/overview"
    assert requests.get(overview, headers=bearer(copied)).status_code == 200
    token = csrf_of(gateway, browser)
    browser.post(gateway.url + "/ui/logout", data={"csrf_token": token}, allow_redirects=False)
    ended = requests.post(gateway.url + "/ui/logout", headers=bearer(script_token))
    assert ended.status_code == 204

    def refused(token):
        answers = [requests.get(overview, headers=bearer(token)) for _ in range(4)]  # workers
        return all(
            answer.status_code == 401
            and answer.json()["error"]["message"] == "session has ended: it was signed out"
            for answer in answers
        )

    wait_until(lambda: refused(copied) and refused(script_token), timeout=5, message="ended")
    assert kept.get(overview).status_code == 200


def test_expired_forged_and_replaced_sessions_are_refused(gateway, people, store):
    """An expired token, one signed with another secret, or one of a deleted key: 401."""
    record = store.record_named("s-viewer", fresh=True)
    expired, _ = SessionTokens(store, load_secret(store), -10).issue(record)
    answer = requests.get(gateway.url + "/api/db/overview", headers=bearer(expired))
    assert answer.status_code == 401 and "session has expired" in answer.json()["error"]["message"]
    forged, _ = SessionTokens(store, b"x" * 48, 3600).issue(record)
    answer = requests.get(gateway.url + "/api/db/overview", headers=bearer(forged))
    assert answer.status_code == 401 and "session is not valid" in answer.text
    store.create("s-replaced", "read")
    replaced = SessionTokens(store, load_secret(store), 60).issue(
        store.record_named("s-replaced", fresh=True)
    )[0]
    store.delete("s-replaced")
    store.create("s-replaced", "read")  # the same name, another key: not the session's key

    def refused():
        answer = requests.get(gateway.url + "/api/db/overview", headers=bearer(replaced))
        return answer.json() if answer.status_code == 401 else None

    body = wait_until(refused, timeout=5, message="the replaced key's session ending")
    assert "no longer exists" in body["error"]["message"]


def test_revoked_keys_sessions_end_within_five_seconds(gateway, store):
    """Revoking the key ends its sessions, cookie and Bearer alike, in every worker within 5 s."""
    key = store.create("s-revoked", "read")
    browser, _ = sign_in(gateway, key)
    token = browser.cookies["uas_session"]
    assert browser.get(gateway.url + "/api/db/overview").status_code == 200
    stream = RelayClient.connect(  # the page's own socket: its cookie, its origin
        f"ws://127.0.0.1:{gateway.port}/api/db/ws",
        headers={"Cookie": f"uas_session={token}", "Origin": "http://127.0.0.1"},
    )
    assert json.loads(stream.receive(timeout=5))["type"] == "subscribed"
    revoked = CliRunner().invoke(keys_cli, ["revoke", "s-revoked", *flags(store.path)])
    assert revoked.exit_code == 0
    deadline = time.monotonic() + 5
    with pytest.raises(simple_websocket.ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            stream.receive(timeout=max(0.01, deadline - time.monotonic()))
    assert closed.value.reason == 1008

    def ended():
        # The refusals checked are the ones waited for: one more request could still reach a
        # worker whose cached key lookup (2 s) has not yet run out.
        answers = [
            requests.get(gateway.url + "/api/db/overview", headers=bearer(token))
            for _ in range(4)  # both workers
        ]
        return all(
            answer.status_code == 401
            and answer.json()["error"]["message"]
            == "session has ended: its API key has been revoked"
            for answer in answers
        ) and (browser.get(gateway.url + "/api/db/overview").status_code == 401)

    wait_until(ended, timeout=5, message="the revoked key's sessions ending")
    signed_out = browser.get(gateway.url + "/ui/login").text
    assert "You are signed in" not in signed_out


def test_an_expired_keys_sessions_end(gateway, store):
    """A key that expires ends its sessions, though the session itself has time left."""
    key = store.create("s-expiring", "read", datetime.now(UTC) + timedelta(seconds=4))
    browser, _ = sign_in(gateway, key)
    assert browser.get(gateway.url + "/api/db/overview").status_code == 200

    def ended():
        answer = browser.get(gateway.url + "/api/db/overview")
        return answer.json() if answer.status_code == 401 else None

    body = wait_until(ended, timeout=10, message="the expired key's session ending")
    assert body["error"]["message"] == "session has ended: its API key has expired"


def test_role_changes_apply_to_open_sessions(gateway, store):
    """A custom role changed with the CLI changes what its keys' sessions may do within 5 s."""
    run = lambda group, *argv: CliRunner().invoke(group, [*argv, *flags(store.path)])  # noqa: E731
    assert run(roles_cli, "create", "s-testers", "--scopes", "test:read").exit_code == 0
    created = run(keys_cli, "create", "--name", "s-role-key", "--role", "s-testers")
    assert created.exit_code == 0, created.output
    _, answer = sign_in(gateway, created.stdout.strip())
    token = answer.cookies["uas_session"]
    url = gateway.url + "/api/db/generator/tasks"
    refused = requests.get(url, headers=bearer(token))
    assert refused.json()["error"]["details"]["missing_scope"] == "generator:read"
    assert run(roles_cli, "set", "s-testers", "--scopes", "test:read,generator:read").exit_code == 0
    wait_until(lambda: requests.get(url, headers=bearer(token)).status_code == 200, timeout=5)
    held = run(roles_cli, "delete", "s-testers")
    assert held.exit_code == 1 and "s-role-key" in held.output
    assert (
        run(keys_cli, "set", "s-role-key", "--roles", "", "--scopes", "benchmark:read").exit_code
        == 0
    )
    wait_until(lambda: requests.get(url, headers=bearer(token)).status_code == 403, timeout=5)
    assert run(roles_cli, "delete", "s-testers").exit_code == 0


def test_a_session_is_its_key_for_limits_and_logs(gateway, store):
    """A session's requests count against its key's rate and are logged under its name."""
    key = store.create("s-limited", "read", rate=0.5, burst=2)
    browser, _ = sign_in(gateway, key)
    token = browser.cookies["uas_session"]
    statuses = [
        raw_request(gateway.port, "GET", "/api/db/test/runs?limit=1", bearer(token))[0]
        for _ in range(3)
    ]
    assert statuses[:2] == [200, 200] and statuses[2] == 429, statuses
    status, _, body = raw_request(gateway.port, "GET", "/", {"Cookie": f"uas_session={token}"})
    assert status == 429 and b"'s-limited'" in body

    def logged():
        with open(gateway.log_path, encoding="utf-8") as handle:
            return "s-limited" in handle.read()

    wait_until(logged, timeout=5, message="the session's key name in the log")
