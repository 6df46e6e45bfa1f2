"""The contract suite's view of a component: its API, a valid item, and the error envelope.

The suite runs in-process (a Flask test client on a fresh DuckDB file per test) for every
registered component, or, when ``UAS_CONTRACT_GATEWAY`` names a running gateway (with
``UAS_CONTRACT_KEY``), over real HTTP through that gateway, each test starting from an empty
database. Either way a test sees the same :class:`Api`.
"""

import os
from dataclasses import dataclass

import requests

from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME

GATEWAY = os.environ.get("UAS_CONTRACT_GATEWAY")
KEY = os.environ.get("UAS_CONTRACT_KEY", "")


def valid_item(component, model):
    """Return a minimal valid body for ``component``: its required columns, one device."""
    hardware = "cpu" if not component.hardware_is_list else ["cpu"]
    return {"model_name": model, "hardware": hardware}


class HttpResponse:
    """A requests response with the Flask test-client methods the suite uses."""

    def __init__(self, response):
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers

    def get_json(self):
        """Return the body as JSON."""
        return self.response.json()

    def get_data(self, as_text=False):
        """Return the body as bytes (or text)."""
        return self.response.text if as_text else self.response.content


class HttpClient:
    """Flask-test-client-shaped calls over real HTTP to the gateway, with the contract key."""

    def __init__(self, url, key):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key

    def open(self, method, path, query_string=None, content_type=None, **kwargs):
        """Send one request; return an :class:`HttpResponse`."""
        headers = {"Content-Type": content_type} if content_type else {}
        response = self.session.request(
            method, self.url + path, params=query_string, headers=headers, timeout=60, **kwargs
        )
        return HttpResponse(response)

    def __getattr__(self, method):
        if method not in ("get", "post", "put", "patch", "delete"):
            raise AttributeError(method)
        return lambda path, **kwargs: self.open(method.upper(), path, **kwargs)


@dataclass
class Api:
    """A component's API under test, with the paths and item factory the contract needs."""

    component: object
    client: object

    @property
    def base(self):
        """Return the database API's URL prefix, e.g. ``/api/test/db``."""
        return f"/api/{self.component.name}/db"

    @property
    def items(self):
        """Return the collection's URL."""
        return f"{self.base}/{self.component.entities}"

    def one(self, item_id):
        """Return one item's URL."""
        return f"{self.base}/{self.component.entity}/{item_id}"

    def item(self, model="bert-base", **changes):
        """Return a minimal valid item body, with ``changes`` applied."""
        return {**valid_item(self.component, model), **changes}

    def create(self, model="bert-base", **changes):
        """Create an item and return its stored body."""
        response = self.client.post(self.items, json=self.item(model, **changes))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    @property
    def id_name(self):
        """Return the id field, e.g. ``run_id``."""
        return self.component.id_column

    def reset(self):
        """Delete every item and batch, so a test over HTTP starts from an empty database.

        Batches go first, with their members (one write each: a seeded batch of many items
        costs one write, not one per item), then the items left, one at a time.
        """
        members = {self.component.batch_delete_param: "true"}
        batches = self.client.get(f"{self.base}/batches", query_string={"limit": 1000})
        for batch in batches.get_json()["batches"]:
            self.client.delete(f"{self.base}/batch/{batch['batch_id']}", query_string=members)
        for route, key, one in (
            (self.items, self.component.entities, self.component.entity),
            (f"{self.base}/batches", "batches", "batch"),
        ):
            while True:
                page = self.client.get(route, query_string={"limit": 1000}).get_json()[key]
                if not page:
                    break
                for row in page:
                    row_id = row[self.id_name if key != "batches" else "batch_id"]
                    self.client.delete(f"{self.base}/{one}/{row_id}")


def make_api(name, db_path, **config):
    """Build component ``name``'s app in-process on ``db_path`` and return its Api."""
    component = BY_NAME[name]
    app = create_app(component, {"db_path": str(db_path), **config})
    return Api(component, app.test_client())


def gateway_api(name):
    """Return the Api of component ``name`` through the contract gateway, emptied."""
    api = Api(BY_NAME[name], HttpClient(GATEWAY, KEY))
    api.reset()
    return api


def assert_error(response, status):
    """Check ``response`` is ``status`` in the shared error envelope, and return the error."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["status"] == status
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return error
