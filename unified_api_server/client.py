"""A small Python client of the gateway: uploads, creates, lists every page, and streams exports.

::

    from unified_api_server.client import Client, ClientError

    client = Client("http://localhost:8080", key)
    run = client.upload_junit("report.xml", model="gpt2", hardware="cpu")
    for run in client.list("test", status="failed"):
        ...
    with open("runs.parquet", "wb") as out:
        client.export("test", "parquet", out, model_name="gpt2")

Every failure is one :class:`ClientError`: the server's error envelope (status, code, message,
details), or a server that cannot be reached (status ``None``). Routes come from the component
registry, so a component's entity names and report formats are never spelled here twice.
"""

import os

import requests

from unified_api_server.registry import BY_NAME

CHUNK_BYTES = 1 << 16
CONTENT_TYPES = {"junit": "application/xml", "pytest-benchmark": "application/json"}


class ClientError(Exception):
    """The server answered an error (its envelope's fields), or could not be reached."""

    def __init__(self, status, message, details=None, code=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.code = code

    def __str__(self):
        head = f"{self.status} {self.code}: " if self.status is not None else ""
        return head + self.message


def _component(name):
    """Return the registered component ``name``, or raise a ClientError listing the names."""
    if name not in BY_NAME:
        raise ClientError(None, f"unknown component {name!r}: one of {', '.join(BY_NAME)}")
    return BY_NAME[name]


def _error_from(response):
    """Return the ClientError a non-2xx ``response`` stands for."""
    try:
        error = response.json()["error"]
        return ClientError(
            error.get("status", response.status_code),
            error.get("message") or response.reason,
            error.get("details"),
            error.get("code"),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        # Not our envelope (a proxy's page, say): say what came back, briefly.
        text = " ".join(response.text.split())[:200]
        return ClientError(response.status_code, text or response.reason or "no body")


def _body(path_or_bytes):
    """Return ``(data, file to close or None)``: bytes as given, a path opened for streaming."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), None
    if isinstance(path_or_bytes, (str, os.PathLike)):
        try:
            handle = open(path_or_bytes, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise ClientError(None, f"cannot read {os.fspath(path_or_bytes)}: {exc}") from None
        return handle, handle
    return path_or_bytes, None  # a readable file object, streamed as it is


class Client:
    """A gateway's API over one ``requests.Session`` that sends the key as ``X-API-Key``."""

    def __init__(self, url, key=None, timeout=60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "unified-api-server-client"
        if key:
            self.session.headers["X-API-Key"] = key

    def close(self):
        """Close the session's connections."""
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def request(self, method, path, **kwargs):
        """Send ``method path``; return the 2xx response or raise a ClientError."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.url + path, **kwargs)
        except requests.RequestException as exc:
            raise ClientError(None, f"cannot reach {self.url}: {exc}") from None
        if not response.ok:
            error = _error_from(response)
            response.close()
            raise error
        return response

    def upload(self, component, fmt, path_or_bytes, **params):
        """Import a report file (``fmt`` one of the component's importers); return the answer."""
        importers = {i.format: i for i in _component(component).importers}
        if fmt not in importers:
            raise ClientError(None, f"{component} imports no {fmt!r} reports")
        unknown = sorted(set(params) - set(importers[fmt].params))
        if unknown:
            raise ClientError(None, f"{fmt} import takes no parameter(s) {', '.join(unknown)}")
        query = {k: v for k, v in params.items() if v is not None}
        data, opened = _body(path_or_bytes)
        headers = {"Content-Type": CONTENT_TYPES.get(fmt, "application/octet-stream")}
        try:
            path = f"/api/{component}/db/import/{fmt}"
            return self.request("POST", path, params=query, data=data, headers=headers).json()
        finally:
            if opened is not None:
                opened.close()

    def upload_junit(self, path_or_bytes, model, hardware=None, test_type=None, run_id=None, **kw):
        """Import a JUnit XML report as one test run; return the stored run."""
        if isinstance(hardware, (list, tuple)):
            hardware = ",".join(hardware)
        params = {"hardware": hardware, "test_type": test_type, "run_id": run_id, **kw}
        return self.upload("test", "junit", path_or_bytes, model_name=model, **params)

    def upload_pytest_benchmark(self, path_or_bytes, model=None, hardware=None, **params):
        """Import a ``pytest --benchmark-json`` report as benchmark runs; return the answer."""
        return self.upload(
            "benchmark", "pytest-benchmark", path_or_bytes, model_name=model, hardware=hardware,
            **params,
        )  # fmt: skip

    def create_run(self, component, body):
        """Create one item of ``component`` (idempotent with a client id); return it."""
        entities = _component(component).entities
        return self.request("POST", f"/api/{component}/db/{entities}", json=body).json()

    def get(self, component, item_id):
        """Return one item of ``component`` with its children."""
        entity = _component(component).entity
        return self.request("GET", f"/api/{component}/db/{entity}/{item_id}").json()

    def list(self, component, **params):
        """Yield every item of ``component`` matching ``params``, following every page."""
        entities = _component(component).entities
        seen = set()
        while True:
            page = self.request("GET", f"/api/{component}/db/{entities}", params=params).json()
            yield from page[entities]
            cursor = page.get("next_cursor")
            if not cursor or cursor in seen:  # a cursor seen twice would loop for ever
                return
            seen.add(cursor)
            params = {**params, "cursor": cursor}

    def export(self, component, fmt, fileobj, **params):
        """Stream ``component``'s export in ``fmt`` into ``fileobj``; return the bytes written."""
        _component(component)
        query = {**params, "format": fmt}
        path = f"/api/{component}/db/export"
        written = 0
        with self.request("POST", path, params=query, stream=True) as response:
            try:
                for chunk in response.iter_content(CHUNK_BYTES):
                    fileobj.write(chunk)
                    written += len(chunk)
            except requests.RequestException as exc:
                raise ClientError(None, f"export cut off after {written} bytes: {exc}") from None
        return written
