"""The launcher's follower: each service's new lines, its name in front, across rotations."""

import io
import logging
import os

import pytest

from unified_api_server.core.logs import configure_logging
from unified_api_server.launcher.follow import LogFollower, attach_outputs, lines_log


@pytest.fixture
def console():
    """Return the stream the services' lines are written to (restored afterwards)."""
    stream = io.StringIO()
    attach_outputs(None, stream)
    yield stream
    for handler in list(lines_log.handlers):
        lines_log.removeHandler(handler)


def _append(path, text):
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def test_only_new_whole_lines_are_passed_on_with_the_name(tmp_path, console):
    gateway, test_api = tmp_path / "gateway.log", tmp_path / "test_api.log"
    _append(gateway, "from an earlier run\n")
    follower = LogFollower([("gateway", str(gateway)), ("test_api", str(test_api))])
    for source in follower.sources:
        source.mark_start()
    assert follower.poll() == 0
    _append(gateway, "one\ntw")
    _append(test_api, "made after the start\n")  # a file that did not exist: read from its start
    assert follower.poll() == 2
    _append(gateway, "o\n")
    assert follower.poll() == 1
    assert console.getvalue().splitlines() == [
        "gateway  | one",
        "test_api | made after the start",
        "gateway  | two",
    ]


def test_a_rotated_file_is_read_to_its_end_then_the_new_one_from_its_start(tmp_path, console):
    path = tmp_path / "gateway.log"
    _append(path, "old\n")
    follower = LogFollower([("gateway", str(path))])
    for source in follower.sources:
        source.mark_start()
    _append(path, "before\n")
    assert follower.poll() == 1
    _append(path, "last of the old file\n")
    os.rename(path, f"{path}.1")  # as supervisord rotates
    _append(path, "first of the new file\n")
    assert follower.poll() == 1  # the old file's end first...
    assert follower.poll() == 1  # ...then the new file
    with open(path, "w", encoding="utf-8") as handle:  # truncated in place: from its start
        handle.write("x\n")
    assert follower.poll() == 1
    assert console.getvalue().splitlines() == [
        "gateway | before",
        "gateway | last of the old file",
        "gateway | first of the new file",
        "gateway | x",
    ]
    for source in follower.sources:
        source.close()


def test_the_launcher_log_keeps_the_lines_as_they_are_in_json_too(tmp_path, console):
    log_file = tmp_path / "unified_api_server.log"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        handler = configure_logging("INFO", str(log_file), "json")
        attach_outputs(handler, console)
        logging.getLogger("unified_api_server.launcher").info("the launcher's own")
        path = tmp_path / "test_api.log"
        follower = LogFollower([("test_api", str(path))])
        follower.sources[0].mark_start()
        _append(path, '{"level": "INFO"}\n')
        follower.poll()
        handler.flush()
        lines = log_file.read_text(encoding="utf-8").splitlines()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], level = saved
        root.setLevel(level)
    assert '"message": "the launcher\'s own"' in lines[0]
    assert lines[1] == 'test_api | {"level": "INFO"}'
    assert console.getvalue() == 'test_api | {"level": "INFO"}\n'


def test_a_key_in_a_followed_line_is_masked(tmp_path, console):
    path = tmp_path / "error.log"
    follower = LogFollower([("nginx", str(path))])
    for source in follower.sources:
        source.mark_start()
    _append(path, 'upstream gone, request: "GET /api/db/ws?api_key=uas_secret&x=1 HTTP/1.1"\n')
    assert follower.poll() == 1
    assert "uas_secret" not in console.getvalue()
    assert "api_key=REDACTED&x=1" in console.getvalue()
