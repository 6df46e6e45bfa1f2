"""The real service: gunicorn on a DuckDB file, and one process per file."""

import requests

from tests.contract.api import valid_item
from tests.support import ServiceProcess
from unified_api_server.registry import BY_NAME


def test_real_service_round_trip_and_file_lock(component_name, data_dir):
    """Serve health and a round trip; a second process on the same file exits non-zero."""
    component = BY_NAME[component_name]
    service = ServiceProcess.component(component_name, data_dir)
    try:
        service.wait_ready()
        health = requests.get(f"{service.url}/health", timeout=5).json()
        assert health["status"] == "ok" and health["service"] == component_name
        assert health["database"].endswith(f"{component_name}.duckdb")
        base = f"{service.url}/api/{component_name}/db"
        created = requests.post(
            f"{base}/{component.entities}", json=valid_item(component, "bert"), timeout=5
        )
        assert created.status_code == 201
        item_id = created.json()[component.id_column]
        assert (
            requests.get(service.url + created.headers["Location"], timeout=5).json()["model_name"]
            == "bert"
        )
        listed = requests.get(f"{base}/{component.entities}", timeout=5).json()
        assert [i[component.id_column] for i in listed[component.entities]] == [item_id]

        second = ServiceProcess.component(
            component_name, data_dir, extra_args=["--lock-wait", "0.5"]
        )
        try:
            assert second.process.wait(30) != 0
            assert "in use by another process" in second.log_tail()
        finally:
            second.stop()
        assert requests.get(f"{service.url}/health", timeout=5).status_code == 200
    finally:
        service.stop()
