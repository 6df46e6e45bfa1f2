"""What differs between components for the contract suite: the component and a valid item."""

from dataclasses import dataclass

from unified_api_server.components.benchmark.component import COMPONENT as BENCHMARK
from unified_api_server.components.generator.component import COMPONENT as GENERATOR
from unified_api_server.components.test.component import COMPONENT as TEST
from unified_api_server.core.web.app import create_app


def _test_item(model):
    return {"model_name": model, "hardware": ["cpu"], "test_type": "basic"}


def _generator_item(model):
    return {
        "model_name": model,
        "hardware": ["cpu"],
        "template_type": "text-encoder",
        "architecture": "encoder-only",
    }


def _benchmark_item(model):
    return {
        "model_name": model,
        "hardware": "cpu",
        "batch_size": 8,
        "precision": "fp16",
        "latency_ms_mean": 2.5,
        "throughput": 400.0,
        "parameters": {"sequence_length": 128},
    }


# name -> (component, minimal valid item for a model)
COMPONENTS = {
    "test": (TEST, _test_item),
    "generator": (GENERATOR, _generator_item),
    "benchmark": (BENCHMARK, _benchmark_item),
}


@dataclass
class Api:
    """A component's app under test, with the paths and item factory the contract needs."""

    component: object
    client: object
    make_item: object

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
        return {**self.make_item(model), **changes}

    def create(self, model="bert-base", **changes):
        """Create an item and return its stored body."""
        response = self.client.post(self.items, json=self.item(model, **changes))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    @property
    def id_name(self):
        """Return the id field, e.g. ``run_id``."""
        return self.component.id_column


def make_api(name, db_path, **config):
    """Build component ``name``'s app on ``db_path`` and return its Api."""
    component, factory = COMPONENTS[name]
    app = create_app(component, {"db_path": str(db_path), **config})
    return Api(component, app.test_client(), factory)


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
