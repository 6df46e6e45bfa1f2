"""Gateway fixtures: real component processes, real gateway processes, and keys."""

from gevent import monkey

if not monkey.is_module_patched("socket"):  # the suite's root conftest normally did this already
    monkey.patch_all()

from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.gateway.servers import FaultServer
from tests.support import NAMES, ServiceProcess, all_started
from unified_api_server.gateway.keys import KeyStore
from unified_api_server.registry import BY_NAME

ENTITY = {name: BY_NAME[name].entities for name in NAMES}


def start_component(name, tmp_dir):
    """Start component ``name`` on a free port with a fresh DuckDB file; return it when ready."""
    return ServiceProcess.component(name, tmp_dir).wait_ready()


def start_gateway(tmp_dir, urls, keys_db, label="gateway", **settings):
    """Start a gateway (2 workers) against ``urls``; return it once it answers /health."""
    log_path = tmp_dir / f"{label}.log"
    service = ServiceProcess.gateway(urls, keys_db, log_path, **{"workers": 2, **settings})
    return service.wait_ready(statuses=(200, 503))


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory):
    """Return a session-wide temporary folder."""
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="session")
def keys_db(work_dir):
    """Return the path of the session's key store."""
    return work_dir / "keys.sqlite3"


@pytest.fixture(scope="session")
def store(keys_db):
    """Return the session's key store (the same file the gateways read)."""
    return KeyStore(keys_db)


@pytest.fixture(scope="session")
def keys(store):
    """Return one key per scope set: read, write, admin, read+write."""
    return {
        "read": store.create("t-read", "read"),
        "write": store.create("t-write", "write"),
        "admin": store.create("t-admin", "admin"),
        "rw": store.create("t-rw", "read,write"),
        "expired": store.create("t-expired", "read", datetime.now(UTC) - timedelta(minutes=1)),
    }


@pytest.fixture(scope="session")
def components(work_dir):
    """Start every component that exists; return name -> Service."""
    with all_started(lambda name: start_component(name, work_dir), NAMES) as started:
        yield started


@pytest.fixture(scope="session")
def gateway(work_dir, components, keys_db, keys):
    """Start a gateway in front of the real components (missing ones point nowhere)."""
    urls = {name: components[name].url for name in NAMES}
    service = start_gateway(work_dir, urls, keys_db, view_budget=3)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def faults(components):
    """Start one FaultServer per component, forwarding to it when it exists; name -> server."""
    servers = {name: FaultServer(components[name].url).start() for name in NAMES}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def fault_gateway(work_dir, faults, keys_db, keys):
    """Start a gateway whose components sit behind FaultServers (short budgets and timeouts)."""
    urls = {name: server.url for name, server in faults.items()}
    service = start_gateway(
        work_dir, urls, keys_db, label="fault-gateway", view_budget=2, read_timeout=1.5
    )
    yield service
    service.stop()


@pytest.fixture(autouse=True)
def _reset_faults(request):
    """End injected delays, and forget recorded calls, around each test using the fault servers."""
    uses_faults = "faults" in request.fixturenames
    if uses_faults:
        for server in request.getfixturevalue("faults").values():
            server.reset()
    yield
    if uses_faults:
        for server in request.getfixturevalue("faults").values():
            server.reset()


@pytest.fixture()
def api(gateway, keys):
    """Return a requests session for the main gateway, authenticated with a read+write key."""
    return client(gateway, keys["rw"])


def client(service, key=None):
    """Return a requests session bound to ``service`` (optionally sending ``key``)."""
    session = requests.Session()
    if key:
        session.headers["X-API-Key"] = key
    session.base = service.url

    def call(method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return session.request(method, session.base + path, **kwargs)

    session.call = call
    return session
