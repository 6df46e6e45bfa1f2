"""One line per request with its id, in text or JSON, and an X-Request-ID on every answer."""

import json
import logging

import pytest
import requests

from tests.support import ServiceProcess, free_port
from unified_api_server.core.logs import JsonFormatter, TextFormatter
from unified_api_server.core.web.app import create_app
from unified_api_server.core.web.requestlog import logged_path
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.registry import BY_NAME

REQUESTS = "unified_api_server.requests"


@pytest.fixture
def client(tmp_path):
    """Return a test client of a Test Suite app on its own DuckDB file."""
    app = create_app(BY_NAME["test"], {"db_path": str(tmp_path / "test.duckdb")})
    yield app.test_client()
    app.extensions["component"].database.close()


def _request_lines(caplog):
    return [record for record in caplog.records if record.name == REQUESTS]


def test_a_component_logs_each_request_with_the_id_it_answers(client, caplog):
    caplog.set_level(logging.INFO, logger=REQUESTS)
    headers = {"X-Request-ID": "abc-123.x:y", "X-API-Key-Name": "ci"}
    response = client.get("/api/test/db/runs?limit=1", headers=headers, buffered=True)
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "abc-123.x:y"
    (record,) = _request_lines(caplog)
    assert record.method == "GET" and record.status == 200 and record.key == "ci"
    assert record.path == "/api/test/db/runs?limit=1"
    assert record.route == "/api/test/db/runs"
    assert record.bytes == len(response.data) and record.ms >= 0
    assert record.request_id == "abc-123.x:y"
    assert "request_id=abc-123.x:y" in record.getMessage()


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "ünïcode"])
def test_an_insane_or_missing_id_is_replaced_errors_included(client, caplog, given):
    caplog.set_level(logging.INFO, logger=REQUESTS)
    headers = {"X-Request-ID": given} if given is not None else {}
    response = client.get("/api/test/db/nothing", headers=headers, buffered=True)
    assert response.status_code == 404
    assert set(response.json) == {"error"}  # the envelope stays as it was
    made = response.headers["X-Request-ID"]
    assert len(made) == 32 and made != given
    (record,) = _request_lines(caplog)
    assert record.request_id == made and record.status == 404 and record.route is None


@pytest.mark.parametrize(
    "environ, logged",
    [
        (
            {"RAW_URI": "/api/db/ws?model=m&api_key=uas_secret"},
            "/api/db/ws?model=m&api_key=REDACTED",
        ),
        ({"RAW_URI": "/x?API_KEY=uas_s&b=1"}, "/x?API_KEY=REDACTED&b=1"),
        ({"RAW_URI": "/x?my_api_key=1"}, "/x?my_api_key=1"),
        ({"PATH_INFO": "/a\nb", "QUERY_STRING": "api_key=k"}, "/a\\nb?api_key=REDACTED"),
    ],
)
def test_logged_paths_hide_keys_and_stay_one_line(environ, logged):
    assert logged_path(environ) == logged


def test_a_json_line_holds_time_level_logger_message_and_fields():
    record = logging.LogRecord("svc", logging.INFO, __file__, 1, "request %s", ("x=1",), None)
    record.status, record.request_id, record.key = 200, "rid", None
    entry = json.loads(JsonFormatter().format(record))
    assert entry["time"].endswith("+00:00") and entry["level"] == "INFO"
    assert entry["logger"] == "svc" and entry["message"] == "request x=1"
    assert entry["status"] == 200 and entry["request_id"] == "rid" and "key" not in entry
    record.verbatim = True  # a service's line the launcher passes on
    assert JsonFormatter().format(record) == TextFormatter().format(record) == "request x=1"


def _json_lines(path):
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle.read().splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]  # every line, gunicorn's own included


def test_log_format_json_writes_one_object_per_line_in_every_process(tmp_path):
    """A gateway and a component run with --log-format json: every line parses, and the
    request's lines in both carry the same id (the gateway's with the key's name, not the key)."""
    component = ServiceProcess.component("test", tmp_path, extra_args=["--log-format", "json"])
    key = KeyStore(tmp_path / "keys.sqlite3").create("json-reader", "read")
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in ("generator", "benchmark")}
    urls["test"] = component.url
    gateway = ServiceProcess.gateway(
        urls, tmp_path / "keys.sqlite3", tmp_path / "gateway.log", log_format="json", workers=1
    )
    try:
        component.wait_ready()
        gateway.wait_ready(statuses=(200, 503))
        response = requests.get(
            gateway.url + "/api/db/test/runs?limit=1",
            headers={"X-API-Key": key, "X-Request-ID": "json-follow-1"},
            timeout=30,
        )
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == "json-follow-1"
    finally:
        gateway.stop()
        component.stop()
    lines = {"gateway": _json_lines(gateway.log_path), "test": _json_lines(component.log_path)}
    for entries in lines.values():
        assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    followed = {
        name: [entry for entry in entries if entry.get("request_id") == "json-follow-1"]
        for name, entries in lines.items()
    }
    (at_component,) = followed["test"]
    assert at_component["route"] == "/api/test/db/runs" and at_component["status"] == 200
    assert at_component["key"] == "json-reader"
    loggers = {entry["logger"]: entry for entry in followed["gateway"]}
    assert loggers[REQUESTS]["key"] == "json-reader" and loggers[REQUESTS]["status"] == 200
    assert loggers["unified_api_server.gateway.upstream"]["component"] == "test"
    assert any(entry["logger"] == "gunicorn.error" for entry in lines["test"])
    with open(gateway.log_path, encoding="utf-8") as handle:
        assert key not in handle.read()
