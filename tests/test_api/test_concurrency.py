"""Concurrent writers against the real service (gunicorn, threads): nothing lost, no 500s."""

import pytest
import requests
from gevent.pool import Pool

from tests.support import ServiceProcess


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """Start the Test Suite API as a real gunicorn process."""
    process = ServiceProcess.component("test", tmp_path_factory.mktemp("data")).wait_ready()
    yield process
    process.stop()


def test_parallel_creates_and_same_row_patches_all_land(service):
    base = f"{service.url}/api/test/db"
    session = requests.Session()
    run_id = session.post(
        f"{base}/runs", json={"model_name": "m", "status": "running", "run_id": "shared"}
    ).json()["run_id"]

    def create(i):
        return session.post(
            f"{base}/runs",
            json={"model_name": "m", "steps": [{"name": f"s{i}", "status": "passed"}]},
        ).status_code

    def patch(i):
        return session.patch(f"{base}/run/{run_id}", json={"progress": i / 100}).status_code

    def add_step(i):
        return session.post(
            f"{base}/run/{run_id}/steps", json={"name": f"step-{i}", "status": "passed"}
        ).status_code

    pool = Pool(24)
    codes = pool.map(create, range(60)) + pool.map(patch, range(60)) + pool.map(add_step, range(60))
    assert set(codes) <= {200, 201}, codes
    assert session.get(f"{base}/runs?limit=1000").json()["count"] == 61
    assert len(session.get(f"{base}/run/{run_id}").json()["steps"]) == 60


def test_a_patch_answers_with_its_own_write(service):
    """Concurrent PATCHes of one run: each answer shows the value that request wrote (the row is
    read back inside the write's transaction, not after another writer's commit)."""
    base = f"{service.url}/api/test/db"
    session = requests.Session()
    run_id = session.post(f"{base}/runs", json={"model_name": "m", "status": "running"}).json()[
        "run_id"
    ]

    def patch(i):
        answer = session.patch(f"{base}/run/{run_id}", json={"progress": i / 1000}).json()
        return i / 1000, answer["progress"]

    results = Pool(24).map(patch, range(200))
    assert [sent for sent, shown in results if sent != shown] == []
