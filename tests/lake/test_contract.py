"""The contract suite, unchanged, in ``storage = ducklake``: each component as two replicas on
one PostgreSQL catalog, nginx spreading requests over them, and a gateway in front, as a
deployment would run them. Consecutive requests of one test land on different replicas.

What runs by default (CI): for every component, the modules of the write path, where the
storage differs and each component has its own children and alert rules (ids without keys,
the catalog's write lock, child and alert numbering; every table exported and bulk-loaded
back). Each other module (bulk uploads' checks, reads, the query grammar, search and export)
runs once, for one component: their code and SQL are shared, built from a component's
declaration the same way for all, and they are spread so that the three components, which run
at once (one pytest each), take about as long. ``UAS_LAKE_CONTRACT_TESTS=all`` runs every
module for every component; ``UAS_LAKE_CONTRACT_COMPONENTS`` names the components (default:
all three; the modules of one left out go to the first named)."""

import os
import re
import subprocess
import sys

import pytest

from tests.lake.conftest import Balancer, Lake
from tests.support import NAMES, REPO, ServiceProcess, dead_url
from unified_api_server.gateway.keys import KeyStore

CHOSEN = [
    n for n in os.environ.get("UAS_LAKE_CONTRACT_COMPONENTS", ",".join(NAMES)).split(",") if n
]
EVERY_COMPONENT = ("test_writes.py", "test_round_trip.py", "test_service.py")
SHARED = {  # each once, where it evens out the three runs' time
    "test": ("test_grammar.py",),
    "generator": ("test_reads.py", "test_search_export.py"),
    "benchmark": ("test_bulk.py",),
}
ALL = os.environ.get("UAS_LAKE_CONTRACT_TESTS") == "all"


def paths(name):
    """Return the contract modules run for component ``name``."""
    if ALL:
        return ["tests/contract"]
    shared = list(SHARED.get(name, ()))
    if name == CHOSEN[0]:
        shared += [m for other, ms in SHARED.items() if other not in CHOSEN for m in ms]
    return [f"tests/contract/{m}" for m in (*EVERY_COMPONENT, *shared)]


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


def test_the_contract_suite_passes_on_two_replicas_per_component(front, tmp_path):
    """Every contract test chosen that runs over HTTP passes, for each component chosen (the
    components at once, each in its own pytest)."""
    gateway, key = front
    runs = {}
    for name in CHOSEN:
        env = {**os.environ, "UAS_CONTRACT_GATEWAY": gateway.url, "UAS_CONTRACT_KEY": key}
        env["UAS_CONTRACT_COMPONENTS"] = name
        output = open(tmp_path / f"{name}.out", "w+", encoding="utf-8")  # noqa: SIM115
        command = [sys.executable, "-m", "pytest", *paths(name), "-q", "-p", "no:cacheprovider"]
        process = subprocess.Popen(
            [*command, "-m", "not in_process", "-x"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        runs[name] = (process, output)
    failed = []
    for name, (process, output) in runs.items():
        try:
            process.wait(timeout=1200)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.seek(0)
        text = output.read()
        output.close()
        found = re.search(r"(\d+) passed", text)
        passed = int(found.group(1)) if found else 0
        if process.returncode != 0 or passed < (50 if ALL else 15):
            failed.append(f"--- {name}: exit {process.returncode}, {passed} passed\n{text[-5000:]}")
    assert not failed, "\n".join(failed)
