"""A fourth component is a small data-only package plus one registration line.

The test writes a toy component into a temporary package (a description and one migration),
registers it with one line (``UAS_EXTRA_COMPONENTS=toy_component``), and then runs the
unchanged contract suite against it over real HTTP through a real gateway.
"""

import os
import re
import subprocess
import sys

import pytest
import requests

from tests.support import REPO, ServiceProcess, dead_url
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.registry import COMPONENTS

TOY = '''"""A toy component: items with the common columns, steps, metrics and tags."""

from unified_api_server.core.component import (
    Column, Component, common_columns, metric_child, step_child, tag_child,
)

COMPONENT = Component(
    name="toy",
    title="Toy API",
    entity="item",
    entities="items",
    columns=common_columns() + (Column("flavour", filter=True, search=True),),
    children=(
        step_child("toy_item_steps"),
        metric_child("toy_item_metrics"),
        tag_child("toy_item_tags"),
    ),
    default_port=8009,
    migrations_package="toy_component",
)
'''
MIGRATION = """-- @include job_tables table=toy_items id=item_id batches=toy_batch_items \
steps=toy_item_steps metrics=toy_item_metrics tags=toy_item_tags
ALTER TABLE toy_items ADD COLUMN flavour VARCHAR;
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Write the toy package; return the environment that registers it (the one line)."""
    root = tmp_path_factory.mktemp("toy")
    package = root / "toy_component"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text(TOY)
    (package / "migrations" / "001_initial.sql").write_text(MIGRATION)
    return {"UAS_EXTRA_COMPONENTS": "toy_component", "PYTHONPATH": f"{root}:{REPO}"}


@pytest.fixture(scope="module")
def suite(toy, tmp_path_factory):
    """Run the toy component and a gateway in front of it; yield (gateway, key)."""
    data = tmp_path_factory.mktemp("toy-data")
    component = ServiceProcess.component("toy", data, env=toy).wait_ready()
    keys_db = data / "keys.sqlite3"
    key = KeyStore(keys_db).create("contract", "read,write")
    urls = {c.name: dead_url() for c in COMPONENTS} | {"toy": component.url}
    gateway = ServiceProcess.gateway(urls, keys_db, data / "gateway.log", env=toy, workers=1)
    try:
        yield gateway.wait_ready(statuses=(200, 503)), key
    finally:
        gateway.stop()
        component.stop()


def test_the_contract_suite_passes_through_the_gateway(suite, toy):
    """The unchanged contract suite, over HTTP through the gateway, passes for the toy."""
    gateway, key = suite
    env = {**toy, "UAS_CONTRACT_GATEWAY": gateway.url, "UAS_CONTRACT_KEY": key}
    env["UAS_CONTRACT_COMPONENTS"] = "toy"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/contract", "-q", "-p", "no:cacheprovider"]
        + ["-m", "not in_process"],
        cwd=REPO,
        env={**dict(os.environ), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))
    assert passed >= 50 and "skipped" not in result.stdout.splitlines()[-1]


def test_the_gateway_views_and_routes_include_it(suite):
    """The registry reaches the gateway: its views, its routing and its /health."""
    gateway, key = suite
    headers = {"X-API-Key": key}
    created = requests.post(
        f"{gateway.url}/api/db/toy/items", json={"model_name": "bert", "flavour": "mint"},
        headers=headers, timeout=30,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    overview = requests.get(f"{gateway.url}/api/db/overview", headers=headers, timeout=30).json()
    assert overview["toy_stats"]["summary"]["total_items"] >= 1
    model = requests.get(f"{gateway.url}/api/db/model/bert", headers=headers, timeout=30).json()
    assert model["overview"]["total_toy_items"] >= 1 and model["recent_toy_items"]
    found = requests.post(
        f"{gateway.url}/api/db/search", params={"query": "mint"}, headers=headers, timeout=30
    ).json()
    assert found["result_counts"]["toy"] == 1
    health = requests.get(f"{gateway.url}/health", timeout=30).json()
    assert health["components"]["toy"]["ok"] is True


def test_the_launcher_and_deploy_files_include_it(toy):
    """Its flags, its supervisord program and its nginx routes come from the registry too."""
    code = (
        "from unified_api_server.launcher.render import render_deploy_files as r; "
        "files = r(); print(files['supervisord.conf']); print(files['nginx.conf'])"
    )
    env = {**dict(os.environ), **toy}
    rendered = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "[program:toy_api]" in rendered and "component toy --host" in rendered
    assert "upstream unified_toy" in rendered and "|toy)" in rendered
    help_text = subprocess.run(
        [sys.executable, "-m", "unified_api_server", "run", "--help"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "--toy-api-port" in help_text and "--toy-api-enabled" in help_text
