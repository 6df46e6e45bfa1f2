"""Applying migrations changes the schema every caller depends on: the admin scope only."""

import pytest

from tests.gateway.conftest import client


@pytest.mark.parametrize("prefix", ["/api/test/db", "/api/db/test"])
def test_applying_migrations_needs_the_admin_scope(gateway, keys, prefix):
    route = f"{prefix}/migrations/apply"
    for scope in ("read", "write", "rw"):
        refused = client(gateway, keys[scope]).call("POST", route, params={"dry_run": "true"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
        error = refused.json()["error"]
        assert "lacks the 'test:admin' scope" in error["message"]  # the component's admin, or admin
        assert error["details"]["missing_scope"] == "test:admin"
    allowed = client(gateway, keys["admin"]).call("POST", route, params={"dry_run": "true"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"dry_run": True, "would_apply": [], "backup": None}


def test_listing_migrations_needs_only_read(gateway, keys):
    listed = client(gateway, keys["read"]).call("GET", "/api/benchmark/db/migrations")
    assert listed.status_code == 200
    body = listed.json()
    assert body["pending"] == 0 and body["migrations"][0]["status"] == "applied"
    assert len(body["migrations"][0]["checksum"]) == 64
