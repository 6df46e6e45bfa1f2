"""Gateway fixtures: real component processes, real gateway processes, and keys."""

from gevent import monkey

if not monkey.is_module_patched("socket"):  # the suite's root conftest normally did this already
    monkey.patch_all()

import importlib.util
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.gateway.servers import FaultServer, Service, free_port
from tests.support import all_started
from unified_api_server.gateway.keys import KeyStore

COMPONENT_MODULES = {
    "test": "unified_api_server.components.test",
    "generator": "unified_api_server.components.generator",
    "benchmark": "unified_api_server.components.benchmark",
}


def _exists(module):
    try:
        return importlib.util.find_spec(module + ".__main__") is not None
    except ModuleNotFoundError:
        return False


AVAILABLE = [name for name, module in COMPONENT_MODULES.items() if _exists(module)]
ENTITY = {"test": "runs", "generator": "tasks", "benchmark": "runs"}


def start_component(name, tmp_dir):
    """Start component ``name`` on a free port with a fresh DuckDB file; return the Service."""
    port = free_port()
    args = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db-path",
        str(tmp_dir / f"{name}.duckdb"),
    ]
    service = Service(COMPONENT_MODULES[name], args, port, str(tmp_dir / f"{name}.log"))
    return service.start()


def start_gateway(tmp_dir, urls, keys_db, label="gateway", **settings):
    """Start ``python -m gateway`` against ``urls`` (component -> base URL); return the Service."""
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--keys-db", str(keys_db), "--workers", "2"]
    for name, url in urls.items():
        args += [f"--{name}-url", url]
    for name, value in settings.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return Service("unified_api_server.gateway", args, port, str(tmp_dir / f"{label}.log")).start()


def dead_url():
    """Return a loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


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
    with all_started(lambda name: start_component(name, work_dir), AVAILABLE) as started:
        yield started


@pytest.fixture(scope="session")
def gateway(work_dir, components, keys_db, keys):
    """Start a gateway in front of the real components (missing ones point nowhere)."""
    urls = {name: (components[name].url if name in components else dead_url()) for name in ENTITY}
    service = start_gateway(work_dir, urls, keys_db, view_budget=3)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def faults(components):
    """Start one FaultServer per component, forwarding to it when it exists; name -> server."""
    servers = {
        name: FaultServer(components[name].url if name in components else None).start()
        for name in ENTITY
    }
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
    """Clear injected delays after each test that used the fault servers."""
    yield
    if "faults" in request.fixturenames:
        for server in request.getfixturevalue("faults").values():
            server.delay = 0.0


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


def pytest_report_header(config):
    """Say which components the gateway tests run against."""
    return f"gateway tests against components: {', '.join(AVAILABLE) or 'none'}"
