"""Schema fuzzing through the gateway: every route, random input, never a 5xx nor an HTML error.

The routes come from the code, so a new one is fuzzed without touching this file: each registered
component's app and the gateway's app are built in-process only to read their ``url_map`` (as
``tools/reference.py`` walks them for the docs), and each component rule is mapped to the gateway
paths that reach it (``/api/{c}/...`` and ``/api/db/{c}/...``), checked with the gateway's own
``routing.classify``. hypothesis draws path parameters, query strings, JSON bodies (free-form, and
built from the field names the component schemas use) and raw bodies for each route's methods and
a few it does not declare, and sends them over real HTTP to the session's gateway with an admin
key. Every answer must be below 500, and every error the shared JSON envelope. The routes that
start jobs get only bodies that cannot validate, so no job ever runs. WebSocket routes are left
to the socket tests.
"""

import atexit
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from urllib.parse import quote

import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.fuzz_inputs import (
    BOUNDARY_BODIES,
    BOUNDARY_REPORTS,
    EDGE_TIMES,
    HEADERS,
    OTHER_METHODS,
    POOLS,
    path_params,
)
from tests.support import NAMES, wait_until
from unified_api_server.core.web.app import create_app
from unified_api_server.gateway.app import create_app as create_gateway_app
from unified_api_server.gateway.routing import classify
from unified_api_server.registry import BY_NAME, COMPONENTS

# The budget: about this many random requests in all, shared out over the routes, after some 300
# fixed ones (CI: well under a minute on two cores); UAS_FUZZ_REQUESTS=20000 fuzzes deeper by hand.
TOTAL_REQUESTS = int(os.environ.get("UAS_FUZZ_REQUESTS", "1100"))
# Answered by the gateway's WSGI layer before Flask, so in no url_map.
MIDDLEWARE_ROUTES = (("/auth/check", ("GET", "HEAD")),)
ENVELOPE_FIELDS = {"status", "code", "message", "details"}
MODEL = "fuzz-model/base"  # the seed items' model
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_SOCKET = re.compile(r"/ws(/<[^>]+>)?$")
# A traceback (with the line before it), or gunicorn saying a worker died.
_LOGGED = re.compile(r"(?:.*\n)?Traceback.*\n(?:[ \t].*\n|\S.*Error.*\n)+|.*was sent SIG\w+.*\n")


@dataclass(frozen=True)
class Route:
    """A route to fuzz: the gateway paths reaching one rule, its methods, what it belongs to."""

    pool: str  # the component whose field names its bodies use, or "gateway"
    paths: tuple  # e.g. ("/api/test/db/run/<item_id>", "/api/db/test/run/<item_id>")
    methods: tuple
    starts_jobs: bool = False
    required_query: tuple = ()  # parameters an importer needs before it reads the body
    imports: bool = False  # takes report files

    def __str__(self):
        methods = ",".join(m for m in self.methods if m not in ("HEAD", "OPTIONS"))
        return f"{methods} {' | '.join(self.paths)}"


def _rules(app):
    for rule in app.url_map.iter_rules():
        if not rule.websocket and not _SOCKET.search(rule.rule):
            yield rule.rule, tuple(sorted(rule.methods))


def _gateway_paths(name, rule):
    """Return the gateway paths that reach component ``name``'s ``rule`` (none for /health)."""
    candidates = [rule]
    prefix = f"/api/{name}/db/"
    if rule.startswith(prefix):
        candidates.append(f"/api/db/{name}/{rule[len(prefix) :]}")
    upstream = _PARAM.sub("x", rule)
    return [
        path for path in candidates if classify(_PARAM.sub("x", path)).upstream_path == upstream
    ]


def enumerate_routes():
    """Return every HTTP route of every component, as the gateway exposes it, and the gateway's."""
    folder = tempfile.mkdtemp(prefix="uas-fuzz-routes-")
    atexit.register(shutil.rmtree, folder, True)  # registered first, so it runs last
    routes = []
    for c in COMPONENTS:
        app = create_app(c, {"db_path": os.path.join(folder, f"{c.name}.duckdb")})
        submissions = c.jobs.submissions if c.jobs else ()
        jobs = {f"/api/{c.name}{submission.path}" for submission in submissions}
        needs = {f"/api/{c.name}/db/import/{imp.format}": imp.required for imp in c.importers}
        for rule, methods in _rules(app):
            paths = tuple(_gateway_paths(c.name, rule))
            if paths:
                extra = (needs[rule], True) if rule in needs else ()
                routes.append(Route(c.name, paths, methods, rule in jobs, *extra))
        app.extensions["component"].database.close()
    gateway_app = create_gateway_app({"keys_db": os.path.join(folder, "keys.sqlite3")})
    routes += [Route("gateway", (rule,), methods) for rule, methods in _rules(gateway_app)]
    return routes + [Route("gateway", (path,), methods) for path, methods in MIDDLEWARE_ROUTES]


ROUTES = enumerate_routes()
EXAMPLES = max(5, TOTAL_REQUESTS // len(ROUTES))


@dataclass(frozen=True)
class Call:
    """One request to send to the gateway."""

    method: str
    target: str  # path and query, encoded
    body: bytes | None
    headers: dict


def calls(route, seeds):
    """Return the strategy of requests for ``route``: any method, params, query, body."""
    pool = POOLS[route.pool]
    undeclared = [m for m in OTHER_METHODS if m not in route.methods]
    methods = st.sampled_from([*route.methods, *route.methods, *undeclared])
    names = {name for path in route.paths for name in _PARAM.findall(path)}
    params = {name: path_params(name, pool, seeds) for name in names}
    return _call(route, methods, st.sampled_from(route.paths), params, pool)


@st.composite
def _call(draw, route, methods, paths, params, pool):
    method = draw(methods)
    path = _PARAM.sub(lambda m: draw(params[m.group(1)]), draw(paths))
    query = "&".join(filter(None, [*route_query(route), draw(pool.queries)]))
    body, content_type = draw(pool.bodies)
    headers = draw(HEADERS)
    if content_type:
        headers["Content-Type"] = content_type
    if route.starts_jobs:
        body = spoil(body)
    return Call(method, path + (f"?{query}" if query else ""), body, headers)


def route_query(route):
    """Return the parameters a route cannot do without, so its body gets read."""
    return [
        f"{name}={quote(MODEL) if name == 'model_name' else 'x'}" for name in route.required_query
    ]


def spoil(body):
    """Make a body no job schema accepts, so no job ever starts.

    Job schemas refuse unknown fields; a blank body counts as ``{}`` where a route needs none.
    """
    if not (body or b"").strip():
        return b'{"fuzz_unknown_field": true}'
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(data, dict):
        return body
    return orjson.dumps({**data, "fuzz_unknown_field": True})


# -- sending and checking ----------------------------------------------------------------------
def envelope_problem(response):
    """Return what is wrong with an error answer's body, or None for the shared JSON envelope."""
    content_type = response.headers.get("Content-Type", "")
    if not content_type.startswith("application/json"):
        return f"error answered as {content_type or 'no Content-Type'}, not JSON"
    try:
        body = response.json()
    except ValueError:
        return "error body is not JSON"
    error = body.get("error") if isinstance(body, dict) else None
    if set(body) != {"error"} or not isinstance(error, dict) or not set(error) <= ENVELOPE_FIELDS:
        return "error body is not the envelope {error: {status, code, message, details?}}"
    if error.get("status") != response.status_code:
        return f"envelope status {error.get('status')!r} differs from the HTTP status"
    if not isinstance(error.get("code"), str) or not isinstance(error.get("message"), str):
        return "envelope code or message is not text"
    return None


def _is_page(target):
    return target == "/ui" or target.startswith(("/ui/", "/ui?"))


def page_problem(response):
    """Return what is wrong with a dashboard page's error: an HTML page or else the envelope."""
    if response.headers.get("Content-Type", "").startswith("text/html"):
        return None  # a page answers its errors as a page, for the person reading it
    return envelope_problem(response)


class Fuzzer:
    """Sends calls to the gateway with an admin key and records what each answer got wrong."""

    def __init__(self, gateway, components, key):
        self.base = gateway.url
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key
        self.logs = {"gateway": gateway.log_path}
        self.logs.update({name: components[name].log_path for name in components})
        self.offsets = {}
        self.mark()
        self.sent = 0
        self.created = {name: [] for name in components}  # ids the fuzzing itself created

    def send(self, route, call):
        """Send ``call``; return a finding (a dict) or None."""
        self.sent += 1
        try:
            response = self.session.request(
                call.method,
                self.base + call.target,
                data=call.body,
                headers=call.headers,
                timeout=(5, 30),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return self.finding(route, call, None, f"no answer: {type(exc).__name__}: {exc}", "")
        status = response.status_code
        if status == 201 and route.pool in self.created:
            self.remember(route.pool, response)
        if status >= 500:
            problem = "5xx"
        elif status == 429:  # not wrong, but then the fuzzing reaches no handler
            problem = "rate limited: give the fuzzing key a higher rate"
        elif status >= 400 and call.method != "HEAD":
            problem = (
                page_problem(response) if _is_page(call.target) else envelope_problem(response)
            )
        elif route.starts_jobs and call.method == "POST" and status < 300:
            problem = "a job was started: the spoiled body validated"
        else:
            problem = None
        return problem and self.finding(route, call, status, problem, response.content[:300])

    def remember(self, name, response):
        """Keep the ids a create answered, so later routes aim at what random input made."""
        try:
            body = response.json()
        except ValueError:
            return
        for key in (BY_NAME[name].id_column, "batch_id"):
            if isinstance(body, dict) and isinstance(body.get(key), str):
                self.created[name].append(body[key])

    def finding(self, route, call, status, problem, answer):
        """Return a finding for ``call``."""
        return {
            "route": str(route),
            "method": call.method,
            "target": call.target[:300],
            "headers": {k: v[:100] for k, v in call.headers.items()},
            "body": None if call.body is None else call.body[:300],
            "status": status,
            "problem": problem,
            "answer": answer,
        }

    def mark(self):
        """Start reading the services' logs here (each route's test reads only its own part)."""
        self.offsets = {name: os.path.getsize(path) for name, path in self.logs.items()}

    def tracebacks(self):
        """Return the tracebacks, and the workers killed, the services logged since the mark."""
        found = []
        for name, path in self.logs.items():
            with open(path, "rb") as handle:
                handle.seek(self.offsets[name])
                text = handle.read().decode("utf-8", "replace")
            for block in _LOGGED.findall(text):
                found.append(f"--- {name} log:\n{block[-2000:]}")
        return found


def report(findings, fuzzer):
    """Describe the findings, the smallest reproduction of each kind, with the logged tracebacks."""
    smallest = {}
    for item in findings:
        kind = (item["method"], item["route"], item["status"], item["problem"])
        size = len(item["target"]) + len(item["body"] or b"")
        if kind not in smallest or size < smallest[kind][0]:
            smallest[kind] = (size, item)
    lines = [f"{len(findings)} bad answer(s), {len(smallest)} kind(s):"]
    lines += [json.dumps(item, default=repr, ensure_ascii=False) for _, item in smallest.values()]
    return "\n".join(lines + fuzzer.tracebacks()[:5])


def seed_bodies(c):
    """Return what each component starts with, to aim at: (collection, body, must be stored).

    A batch holding a running item, an empty batch, a finished item with children, and an item
    started at the edge of the times an ISO 8601 year can hold (which the server may refuse).
    """
    batch = f"fuzz-{c.name}-batch"
    item = {"model_name": MODEL, "status": "running"}
    done = {c.id_column: f"fuzz-{c.name}-done", "model_name": MODEL, "status": "completed"}
    done.update({child.key: [] if child.shape == "list" else {} for child in c.children})
    edge = {c.id_column: f"fuzz-{c.name}-edge", **item, "started_at": EDGE_TIMES[0]}
    return (
        ("batches", {"batch_id": batch, "name": "fuzz"}, True),
        ("batches", {"batch_id": f"fuzz-{c.name}-empty"}, True),
        (c.entities, {c.id_column: f"fuzz-{c.name}-item", **item, "batch_id": batch}, True),
        (c.entities, done, True),
        (c.entities, edge, False),
    )


def fixed_seeds(route):
    """Return the ids and names of the seeds a route's path parameters are drawn from."""
    if route.pool == "gateway":
        return (MODEL,)  # the gateway's parameter is a model name
    c = BY_NAME[route.pool]
    return (MODEL, *(body.get(c.id_column) or body["batch_id"] for _, body, _ in seed_bodies(c)))


@pytest.fixture(scope="module")
def fuzzer(gateway, components, keys):
    """Yield a Fuzzer, once each component holds its seed batches and items."""
    fuzzer = Fuzzer(gateway, components, keys["admin"])
    for name in NAMES:
        for collection, body, required in seed_bodies(BY_NAME[name]):
            url = f"{gateway.url}/api/db/{name}/{collection}"
            response = fuzzer.session.post(url, json=body, timeout=30)
            assert response.status_code in (200, 201) or not required, response.text
    yield fuzzer
    try:  # hand the session's components on healthy: a crashed worker takes a moment to return
        wait_until(lambda: gateway.get("/health").status_code == 200, timeout=30, interval=0.5)
    except AssertionError:
        pass


def test_every_component_and_the_gateway_have_routes_to_fuzz():
    assert {route.pool for route in ROUTES} == {*NAMES, "gateway"}
    for name in NAMES:
        assert any(path.startswith(f"/api/db/{name}/") for r in ROUTES for path in r.paths)


def fixed_calls(route, seeds):
    """Return the requests every run sends first: each seed, and the simplest bodies.

    Random draws may miss an empty batch, a finished item, a bare ``null`` or a report's ``nan``;
    these never do.
    Each declared method but DELETE (left to the random draws, so the seeds stay for the routes
    after this one), HEAD and OPTIONS goes to each seed; each body method gets each boundary body,
    aimed at the running item.
    """
    template = route.paths[0]
    keys = POOLS[route.pool].child_keys or ("x",)
    targets = [_fill(template, seed, keys[i % len(keys)]) for i, seed in enumerate(seeds)]
    calls = []
    if _PARAM.search(template):
        methods = [m for m in route.methods if m not in ("DELETE", "HEAD", "OPTIONS")]
        calls += [Call(method, target, None, {}) for method in methods for target in targets]
    target = next((t for t, s in zip(targets, seeds) if s.endswith("-item")), targets[0])
    query = "&".join(route_query(route))
    target += f"?{query}" if query else ""
    reports = [report.encode() for report in BOUNDARY_REPORTS] if route.imports else []
    for method in (m for m in route.methods if m in ("POST", "PUT", "PATCH")):
        for body in [*BOUNDARY_BODIES, *reports]:
            body = spoil(body) if route.starts_jobs else body
            calls.append(Call(method, target, body, {"Content-Type": "application/json"}))
    return calls


def _fill(template, seed, key):
    """Return ``template`` with every parameter ``seed`` (a child ``key`` for ``<key>``)."""
    return _PARAM.sub(lambda m: quote(key if m.group(1) == "key" else seed), template)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_answers_no_5xx_and_every_error_in_the_json_envelope(route, fuzzer):
    findings = []

    def send(call):
        finding = fuzzer.send(route, call)
        if finding:
            findings.append(finding)

    fuzzer.mark()
    for call in fixed_calls(route, fixed_seeds(route)):
        send(call)
    made = fuzzer.created.get(route.pool, [])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(calls(route, (*fixed_seeds(route), *made[-20:])))
    def fuzz(call):
        send(call)

    fuzz()
    assert not findings, report(findings, fuzzer)
