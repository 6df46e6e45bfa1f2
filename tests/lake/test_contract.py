"""The contract suite, unchanged, in ``storage = ducklake``: a component as two replicas on
one PostgreSQL catalog, nginx spreading requests over them, and a gateway in front, as a
deployment would run them. Consecutive requests of one test land on different replicas.

On DuckLake each write costs tens of milliseconds of catalog round trips, and each test starts
by deleting what the last one stored, one item at a time: the whole suite for the Test Suite
took 12 minutes here. So by default (within CI's time) it runs the write path's modules for the
Test Suite; ``UAS_LAKE_CONTRACT_TESTS=all`` runs every module and
``UAS_LAKE_CONTRACT_COMPONENTS=test,generator,benchmark`` every component."""

import os
import re
import subprocess
import sys

import pytest

from tests.lake.conftest import Balancer, Lake
from tests.support import NAMES, REPO, ServiceProcess, dead_url
from unified_api_server.gateway.keys import KeyStore

CHOSEN = [n for n in os.environ.get("UAS_LAKE_CONTRACT_COMPONENTS", "test").split(",") if n]
MODULES = os.environ.get(
    "UAS_LAKE_CONTRACT_TESTS", "test_writes.py,test_round_trip.py,test_service.py"
)
PATHS = (
    ["tests/contract"] if MODULES == "all" else [f"tests/contract/{m}" for m in MODULES.split(",")]
)


@pytest.fixture(scope="module")
def front(postgres, tmp_path_factory):
    """Start two replicas of each chosen component, nginx over each pair, and a gateway; yield
    (gateway, key)."""
    folder = tmp_path_factory.mktemp("lake-contract")
    lakes, balancers, gateway = [], [], None
    try:
        for name in CHOSEN:
            lake = Lake(postgres, folder, name)
            lakes.append(lake)
            lake.start(2, wait=False)
        urls = {name: dead_url() for name in NAMES}
        for lake in lakes:
            for replica in lake.replicas:
                replica.wait_ready(timeout=180)
            pair = folder / f"nginx-{lake.name}"
            pair.mkdir()
            balancers.append(Balancer(pair, [r.port for r in lake.replicas]))
            urls[lake.name] = balancers[-1].url
        keys_db = folder / "keys.sqlite3"
        key = KeyStore(keys_db).create("contract", "read,write")
        gateway = ServiceProcess.gateway(urls, keys_db, folder / "gateway.log", workers=2)
        yield gateway.wait_ready(statuses=(200, 503)), key
    finally:
        if gateway is not None:
            gateway.stop()
        for balancer in balancers:
            balancer.stop()
        for lake in lakes:
            lake.stop()


def test_the_contract_suite_passes_on_two_replicas_per_component(front):
    """Every contract test chosen that runs over HTTP passes, for each component chosen."""
    gateway, key = front
    env = {**os.environ, "UAS_CONTRACT_GATEWAY": gateway.url, "UAS_CONTRACT_KEY": key}
    env["UAS_CONTRACT_COMPONENTS"] = ",".join(CHOSEN)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *PATHS, "-q", "-p", "no:cacheprovider"]
        + ["-m", "not in_process", "-x"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))
    assert passed >= (50 if MODULES == "all" else 15) * len(CHOSEN)
