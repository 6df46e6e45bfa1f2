"""The pages' side of sessions, in process: require, current, csrf_token, CSRF on forms."""

import os
import re

import pytest

from unified_api_server.gateway import sessions
from unified_api_server.gateway.app import create_app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Return a gateway app (components unreachable: the pages here call none) with probe pages."""
    folder = tmp_path_factory.mktemp("session-pages")
    app = create_app(
        {
            "keys_db": str(folder / "keys.sqlite3"),
            "limits_db": str(folder / "limits.sqlite3"),
            "cache_ttl": 0,
            "default_rate": 0,
        }
    )

    @sessions.require("benchmark:write")
    def probe():
        identity = sessions.current()
        return {"name": identity.name, "csrf": sessions.csrf_token(), "roles": identity.roles}

    app.add_url_rule("/ui/probe", "probe", probe, methods=["GET", "POST"])
    return app


@pytest.fixture(scope="module")
def store(app):
    """Return the app's key store."""
    return app.extensions["gateway"].store


def signed_in(app, key):
    """Return a test client holding a session of ``key``."""
    client = app.test_client()
    answer = client.post("/ui/login", data={"api_key": key, "next": "/ui/probe"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/ui/probe"
    return client


def test_no_session_is_sent_to_sign_in_and_back(app):
    """Without a session a guarded page redirects to the sign-in form, naming the way back."""
    answer = app.test_client().get("/ui/probe?days=7")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/ui/login?next=/ui/probe%3Fdays%3D7"


def test_a_missing_scope_is_a_403_page_naming_it(app, store):
    """A session lacking the page's scope gets a 403 HTML page naming the scope."""
    client = signed_in(app, store.create("p-viewer", "", roles=["viewer"]))
    answer = client.get("/ui/probe")
    assert answer.status_code == 403 and answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert '<code class="missing-scope">benchmark:write</code>' in page
    assert "p-viewer" in page


def test_a_session_with_the_scope_sees_the_page(app, store):
    """``current()`` names the key and its roles; ``csrf_token()`` is the session's token."""
    client = signed_in(app, store.create("p-ci", "", roles=["ci-uploader"]))
    body = client.get("/ui/probe").get_json()
    assert body["name"] == "p-ci" and body["roles"] == ["ci-uploader"]
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf"])
    refused = client.post("/ui/probe")
    assert refused.status_code == 403 and "CSRF" in refused.get_data(as_text=True)
    wrong = client.post("/ui/probe", data={"csrf_token": "0" * 64})
    assert wrong.status_code == 403
    assert client.post("/ui/probe", data={"csrf_token": body["csrf"]}).status_code == 200
    assert client.post("/ui/probe", headers={"X-CSRF-Token": body["csrf"]}).status_code == 200


def test_pages_escape_what_the_browser_sent(app):
    """A ``next`` carrying markup is escaped in the form, never rendered."""
    answer = app.test_client().get('/ui/login?next=/ui/"><script>alert(1)</script>')
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<script>alert(1)" not in page
    assert "&lt;script&gt;" in page or "%3Cscript%3E" in page


def test_the_signing_secret_is_private_and_shared(app, tmp_path):
    """The generated secret is a 0600 file beside the store; a second load reads the same one."""
    settings = app.extensions["gateway"].settings
    path = sessions.secret_path(settings["keys_db"])
    assert (os.stat(path).st_mode & 0o777) == 0o600
    assert (
        sessions.load_secret(settings["keys_db"]) == app.extensions["gateway"].store.sessions.secret
    )
    assert sessions.load_secret(str(tmp_path / "other.sqlite3")) != sessions.load_secret(
        settings["keys_db"]
    )
