"""Logs people can follow: a request id on every answer, in every service's line, on the console."""

import os
import uuid

import pytest
import requests

from tests.support import wait_until

from .conftest import COMPONENTS

ENTRIES = ["gateway", "nginx"]
# (target, key role, status): a component's own route, the gateway's view, refusals, a 404.
TARGETS = [
    ("/api/db/test/runs?limit=1", "read", 200),
    ("/api/test/db/runs?limit=1", "read", 200),
    ("/api/db/overview", "read", 200),
    ("/api/db/test/runs?limit=1", None, 401),
    ("/api/db/test/batches", "bogus", 401),
    ("/api/db/nothing-here", "read", 404),
]


def _get(suite, entry, target, role=None, request_id=None):
    if entry == "nginx" and not suite.has_nginx:
        pytest.skip("nginx is not installed")
    headers = {"X-Request-ID": request_id} if request_id else {}
    if role:
        headers["X-API-Key"] = suite.keys.get(role, role)
    return requests.get(suite.url(entry) + target, headers=headers, timeout=30)


def _lines_with(path, text):
    """Return the lines of the file at ``path`` holding ``text`` (none while it is absent)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line for line in handle if text in line]
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("target, role, status", TARGETS)
def test_every_answer_carries_the_request_id(suite, entry, target, role, status):
    """Errors included; a sane id the client gives is kept, any other replaced by a fresh one."""
    given = f"e2e-{uuid.uuid4().hex}"
    response = _get(suite, entry, target, role, given)
    assert response.status_code == status, response.text
    assert response.headers.get("X-Request-ID") == given
    assert "," not in response.headers["X-Request-ID"]  # one id, not one per hop
    fresh = _get(suite, entry, target, role, "no spaces allowed")
    assert fresh.status_code == status
    assert fresh.headers["X-Request-ID"] not in ("", "no spaces allowed")


def test_a_component_answers_its_own_requests_with_an_id(suite):
    """Straight at a component (nginx's direct routes rely on it): refused or not, an id."""
    for component in COMPONENTS:
        response = requests.get(suite.url(component) + "/api/test/db/runs", timeout=30)
        assert response.status_code == 401
        assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("entry", ENTRIES)
def test_one_request_id_is_in_every_log_on_its_way(suite, entry):
    """The id a client sends is in nginx's, the gateway's and the component's lines, with the
    key's name but never the key."""
    request_id = f"e2e-follow-{uuid.uuid4().hex}"
    response = _get(suite, entry, "/api/db/test/runs?limit=1", "read", request_id)
    assert response.status_code == 200
    run = suite.run_dir
    component = wait_until(
        lambda: _lines_with(os.path.join(run, "test_api.log"), request_id), 30, 0.2
    )
    gateway = wait_until(lambda: _lines_with(os.path.join(run, "gateway.log"), request_id), 30, 0.2)
    assert "method=GET path=/api/test/db/runs?limit=1 route=/api/test/db/runs" in component[0]
    assert "status=200" in component[0] and "bytes=" in component[0]
    # The gateway checked the key (nginx's /auth/check, or its own forwarding) and names it.
    assert any(
        "unified_api_server.requests" in line and "key=e2e-reader" in line for line in gateway
    )
    assert "key=e2e-reader" in component[0]  # the gateway (or nginx, from its check) tells it
    if entry == "gateway":
        assert any("upstream component=test" in line for line in gateway)
    else:
        access = os.path.join(run, "nginx", "access.log")
        assert wait_until(lambda: _lines_with(access, f"rid={request_id}"), 30, 0.2)
    for name in (*COMPONENTS, "gateway"):
        assert not _lines_with(os.path.join(run, f"{name}.log"), suite.keys["read"])


def test_the_console_and_the_launcher_log_show_every_service(suite):
    """The launcher streams each service's lines with its name in front, and keeps them."""
    names = [*COMPONENTS, "gateway"] + (["nginx"] if suite.has_nginx else [])
    marker = f"e2e-console-{uuid.uuid4().hex}"
    for entry in ENTRIES if suite.has_nginx else ["gateway"]:
        _get(suite, entry, "/api/db/test/runs?limit=1", "read", f"{marker}-{entry}")
    width = max(len(name) for name in names)

    def prefixed(name, lines):
        return [line for line in lines if line.startswith(f"{name:<{width}} | ")]

    def console_has_all():  # nginx writes its access log once a second
        lines = list(suite.output)
        return all(prefixed(name, lines) for name in names) and any(
            marker in line for line in prefixed("nginx" if suite.has_nginx else "gateway", lines)
        )

    wait_until(console_has_all, 30, 0.2, message="every service's lines on the console")
    requested = [line for line in suite.output if marker in line]
    assert any(line.startswith(f"{'test_api':<{width}} | ") for line in requested)
    log_path = os.path.join(suite.data_dir, "unified_api_server.log")
    kept = _lines_with(log_path, marker)
    assert {line.split(" | ", 1)[0].strip() for line in kept} >= {"test_api", "gateway"}
    assert not _lines_with(log_path, suite.keys["read"])


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_key_in_the_query_is_masked_in_every_log(suite, entry):
    """A browser's ?api_key= (meant for WebSocket openings) never reaches a service's log."""
    request_id = f"e2e-query-key-{uuid.uuid4().hex}"
    key = suite.keys["read"]
    response = _get(suite, entry, f"/api/db/overview?api_key={key}", None, request_id)
    assert response.headers["X-Request-ID"] == request_id
    gateway_log = os.path.join(suite.run_dir, "gateway.log")
    (line,) = wait_until(lambda: _lines_with(gateway_log, request_id), 30, 0.2)
    assert "path=/api/db/overview?api_key=REDACTED" in line
    assert key not in line
