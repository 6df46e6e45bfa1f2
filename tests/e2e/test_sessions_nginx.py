"""Sessions and component scopes through nginx: its auth_request decides as the gateway does."""

import os
import re

import pytest
import requests

from unified_api_server.gateway.keys import KeyStore


@pytest.fixture(scope="module")
def tester_key(suite):
    """Return a key reading and writing only the Test Suite."""
    store = KeyStore(os.path.join(suite.data_dir, "keys.sqlite3"))
    return store.create("e2e-tester", "test:read,test:write")


@pytest.fixture
def front(needs_nginx, tester_key):
    """Return nginx's base URL and the Test Suite key."""
    return needs_nginx.url("nginx"), tester_key


def _sign_in(url, key):
    browser = requests.Session()
    answer = browser.post(
        url + "/ui/login", data={"api_key": key}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 303, answer.text
    page = browser.get(url + "/ui/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page).group(1)
    return browser, csrf


def test_a_missing_component_scope_is_named_by_nginx(front):
    """nginx's own 403 (from auth_request) names the scope, as the gateway's does."""
    url, key = front
    headers = {"X-API-Key": key}
    assert requests.get(url + "/api/db/test/runs?limit=1", headers=headers).status_code == 200
    refused = requests.get(url + "/api/db/benchmark/runs?limit=1", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"missing_scope": "benchmark:read"}
    refused = requests.post(url + "/api/generator/model", headers=headers, json={})
    assert refused.json()["error"]["details"] == {"missing_scope": "generator:write"}


def test_session_token_and_cookie_pass_nginx_auth_request(front):
    """The session works as Bearer and as the cookie; the cookie's unsafe requests need CSRF."""
    url, key = front
    browser, csrf = _sign_in(url, key)
    token = browser.cookies["uas_session"]
    target = url + "/api/db/test/runs?limit=1"
    assert requests.get(target, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert browser.get(target).status_code == 200
    search = url + "/api/db/test/search?query=bert"
    refused = browser.post(search, json={"query": "bert"})
    assert refused.status_code == 403
    allowed = browser.post(search, json={"query": "bert"}, headers={"X-CSRF-Token": csrf})
    assert allowed.status_code == 200, allowed.text
    other = browser.get(url + "/api/db/benchmark/runs?limit=1")
    assert other.json()["error"]["details"] == {"missing_scope": "benchmark:read"}
