"""docs/client.md stays true: its upload and export commands run against a live gateway."""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from tests.client.conftest import run_pytest
from tests.support import REPO

DOCUMENT = pathlib.Path(REPO, "docs", "client.md")
PROGRAM = "unified-api-server"


def console_examples(text):
    """Return ``(env, argv, expected output lines)`` of each ``unified-api-server`` command."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        for chunk in re.split(r"(?m)^\$ ", block)[1:]:
            command, *output = chunk.rstrip("\n").split("\n")
            words = shlex.split(command)
            env = {}
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                name, _, value = words.pop(0).partition("=")
                env[name] = value
            if words and words[0] == PROGRAM:
                examples.append((env, words[1:], output))
    return examples


def shape(line):
    """Return a pattern matching ``line`` with its ids, counts and sizes left open."""
    tokens = [r"\S+" if re.search(r"\d|\.\.\.", t) else re.escape(t) for t in line.split()]
    return re.compile(r"\s+".join(tokens))


EXAMPLES = console_examples(DOCUMENT.read_text(encoding="utf-8"))


def test_the_document_shows_every_command():
    shown = {tuple(argv[:2]) for _, argv, _ in EXAMPLES}
    assert {("upload", "junit"), ("upload", "pytest-benchmark")} <= shown
    assert {argv[0] for _, argv, _ in EXAMPLES} == {"upload", "export"}


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory):
    """Return a folder holding report files of its own (a report's ids are the report's)."""
    folder = tmp_path_factory.mktemp("examples")
    result = run_pytest(folder, "--junitxml=report.xml", "--benchmark-json=bench.json")
    assert result.returncode == 1, result.stdout + result.stderr
    return folder


def test_the_documented_commands_do_what_the_document_says(examples_dir, gateway, keys):
    for env, argv, output in EXAMPLES:
        environ = {"UAS_URL": gateway.url, "UAS_API_KEY": keys["rw"], **env}
        result = subprocess.run(
            [sys.executable, "-m", "unified_api_server", *argv],
            cwd=examples_dir,
            env={**_base_env(), **environ},
            capture_output=True,
            text=True,
        )
        said = (result.stdout + result.stderr).strip()
        failing = any(line.startswith("Error:") for line in output)
        assert result.returncode == (1 if failing else 0), f"{argv}: {said}"
        assert shape(" ".join(output)).fullmatch(said), f"{argv}: {said!r} vs {output}"


def _base_env():
    environ = {k: v for k, v in os.environ.items() if not k.startswith("UAS_")}
    return {**environ, "PYTHONPATH": REPO}
