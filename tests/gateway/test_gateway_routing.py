"""Path normalisation and scope rules (pure functions behind every access decision)."""

import pytest

from unified_api_server.gateway.keys import KeyStore
from unified_api_server.gateway.routing import classify, decide, normalize_target, required_scope


@pytest.mark.parametrize(
    "raw,path,canonical",
    [
        ("/api/test/db/runs?limit=5", "/api/test/db/runs", True),
        ("//api//test/db/runs", "/api/test/db/runs", False),
        ("/api/test/db/%2e%2e/x", "/api/test/x", False),
        ("/api/test/db/..%2F..%2Fgenerator/db/tasks", "/api/generator/db/tasks", False),
        ("/a/b/../../../../etc/passwd", "/etc/passwd", False),
        ("/api/db/model/google%2Fbert", "/api/db/model/google/bert", False),
        ("/api/db/model/bert%20base", "/api/db/model/bert base", True),
        ("/api/%252e%252e/x", "/api/%2e%2e/x", True),
        ("http://evil/api/test/db/runs", "/api/test/db/runs", True),
        ("/runs/", "/runs/", True),
    ],
)
def test_normalize(raw, path, canonical):
    """Percent-escapes are decoded once, dot segments and empty segments resolved."""
    target = normalize_target(raw)
    assert (target.path, target.canonical) == (path, canonical)


def test_normalize_rejects_control_characters_and_bad_utf8():
    """NUL bytes and invalid UTF-8 make the target unusable."""
    assert normalize_target("/api/test%00/db").error
    assert normalize_target("/api/%ff").error


def test_normalize_reads_wsgi_text_as_the_bytes_sent():
    """A raw non-ASCII target arrives as latin-1 text: valid UTF-8 decodes, invalid is refused."""
    assert normalize_target("/api/db/model/caf\xc3\xa9").path == "/api/db/model/caf\u00e9"
    assert normalize_target("/api/db/model/caf\xe9").error == "path is not valid UTF-8"


@pytest.mark.parametrize("raw", ["/api/test/db/runs%00", "/api/test/db/%ff", "/api/test/db/\xff"])
def test_unusable_target_is_400_but_403_for_auth_request(tmp_path, raw):
    """auth_request understands only 2xx, 401 and 403, so an unusable target is a 403 there."""
    store = KeyStore(tmp_path / "keys.sqlite3")
    headers = {"X-API-Key": store.create("admin", "admin")}
    assert decide("GET", raw, headers, store).status == 400
    assert decide("GET", raw, headers, store, require_canonical=True).status == 403


@pytest.mark.parametrize(
    "method,path,scope",
    [
        ("GET", "/health", None),
        ("POST", "/health", "write"),
        ("GET", "/api/db/test/runs", "read"),
        ("HEAD", "/api/test/db/runs", "read"),
        ("POST", "/api/db/search", "read"),
        ("POST", "/api/db/test/search", "read"),
        ("POST", "/api/test/db/export", "read"),
        ("POST", "/api/db/benchmark/export", "read"),
        ("POST", "/api/test/db/runs", "write"),
        ("POST", "/api/test/run", "write"),
        ("DELETE", "/api/db/generator/task/1", "write"),
        ("PATCH", "/api/test/db/run/1", "write"),
        ("GET", "/api/test/db/migrations", "read"),
        ("POST", "/api/test/db/migrations/apply", "admin"),
        ("POST", "/api/db/benchmark/migrations/apply/", "admin"),
    ],
)
def test_required_scope(method, path, scope):
    """Reads and searches need read; everything else needs write; /health needs nothing."""
    assert required_scope(method, path, classify(path)) == scope


def test_classify():
    """Component routes map to the component's own paths; unknown ones are unknown."""
    assert classify("/api/db/test/runs").upstream_path == "/api/test/db/runs"
    assert classify("/api/generator/status/1").upstream_path == "/api/generator/status/1"
    assert classify("/api/benchmark/ws/abc").websocket
    assert classify("/api/db/overview").kind == "view"
    for path in ("/api/db/nope/x", "/api/nope/x", "/api/db/test", "/api/test", "/API/test/x"):
        assert classify(path).kind == "unknown"


@pytest.mark.parametrize(
    "path, kind",
    [
        ("/api/db/ws", "stream"),
        ("/api/test/ws", "stream"),
        ("/api/test/ws/", "stream"),
        ("/api/test/ws/run-1", "job"),
        ("/api/test/wsx", None),
        ("/api/db/test/runs", None),
    ],
)
def test_the_kind_of_a_socket_is_decided_once(path, kind):
    """Change stream or job socket, with or without a trailing slash: one answer everywhere."""
    from unified_api_server.gateway.routing import socket_kind

    assert socket_kind(path) == kind
