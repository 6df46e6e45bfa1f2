"""The served OpenAPI spec: open to all, the same as the committed snapshot, and valid."""

import json
import pathlib

from openapi_spec_validator import validate

from tests.gateway.conftest import client
from tests.support import NAMES, REPO
from unified_api_server.gateway.openapi import SNAPSHOT


def test_served_spec_matches_the_committed_snapshot(gateway):
    served = client(gateway).call("GET", "/api/openapi.json")
    assert served.status_code == 200
    committed = json.loads(pathlib.Path(REPO, SNAPSHOT).read_text(encoding="utf-8"))
    assert served.json() == committed, "docs/openapi.json is stale: run scripts/render-openapi"


def test_spec_is_valid_and_names_every_component_route_twice():
    spec = json.loads(pathlib.Path(REPO, SNAPSHOT).read_text(encoding="utf-8"))
    validate(spec)
    for name in NAMES:
        assert f"/api/{name}/db/migrations" in spec["paths"]
        assert f"/api/db/{name}/migrations" in spec["paths"]
        assert f"/api/{name}/status/{{job_id}}" in spec["paths"]
    assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}


def test_docs_and_specs_need_no_key_but_data_does(gateway):
    anonymous = client(gateway)
    page = anonymous.call("GET", "/api/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    asset = anonymous.call("GET", "/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert anonymous.call("GET", "/api/docs/assets/index.html").status_code == 404
    for name in NAMES:
        own = anonymous.call("GET", f"/api/{name}/openapi.json")
        assert own.status_code == 200
        assert f"/api/{name}/db/migrations" in own.json()["paths"]
        assert anonymous.call("GET", f"/api/{name}/db/migrations").status_code == 401
        assert anonymous.call("POST", f"/api/{name}/openapi.json").status_code == 401
