"""The seed document's client examples, unchanged except base URL and key, against demo data."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from unified_api_server.registry import COMPONENTS
from unified_api_server.tools.demo_data import SCALES, DemoData

from .conftest import DEMO_SCALE, DEMO_SEED

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")


def prepared(name, tmp_path, base_url, key):
    """Copy an example, replacing only its base URL and its placeholder key."""
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as handle:
        text = handle.read()
    assert text.count('"http://localhost:8080"') == 1 and text.count('"your-api-key"') == 1
    text = text.replace('"http://localhost:8080"', f'"{base_url}"')
    text = text.replace('"your-api-key"', f'"{key}"')
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def expected():
    """Rows the demo data set holds for the example's model."""
    data = DemoData(DEMO_SEED, SCALES[DEMO_SCALE])
    return {c.name: data.expected_count(c, "bert-base-uncased") for c in COMPONENTS}


@pytest.mark.parametrize("entry", ["gateway", "nginx"])
def test_python_example(suite, tmp_path, expected, entry):
    if entry == "nginx" and not suite.has_nginx:
        pytest.skip("nginx is not installed")
    script = prepared("seed_client.py", tmp_path, suite.url(entry), suite.keys["read"])
    result = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Model: bert-base-uncased"
    assert lines[1] == f"Total test runs: {expected['test']}"
    assert lines[2] == f"Total generator tasks: {expected['generator']}"
    assert lines[3] == f"Total benchmark runs: {expected['benchmark']}"
    total = int(re.fullmatch(r"Search results: (\d+) total matches", lines[4]).group(1))
    assert 0 < total <= 30  # limit 10 per component


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("entry", ["gateway", "nginx"])
def test_javascript_example(suite, tmp_path, entry):
    if entry == "nginx" and not suite.has_nginx:
        pytest.skip("nginx is not installed")
    script = prepared("seed_client.js", tmp_path, suite.url(entry), suite.keys["read"])
    result = subprocess.run(
        ["node", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Error:" not in out + result.stderr
    assert "Database Overview:" in out
    for name in ("Test Stats:", "Generator Stats:", "Benchmark Stats:"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert "undefined" not in line and "null" not in line, line
    assert "Search Results:" in out
    total = int(re.search(r"Total Matches: (\d+)", out).group(1))
    parts = [
        int(re.search(rf"{name} Results: (\d+)", out).group(1))
        for name in ("Test", "Generator", "Benchmark")
    ]
    assert total == sum(parts) > 0
