"""Jobs on replicas of one DuckLake: a replica that starts leaves another live replica's running
job alone, and fails the job of one that was killed."""

import signal

import requests

from tests.jobs.conftest import HANG_MODULE, process_gone, read_pids
from tests.support import wait_until


def _status(replica, run_id):
    return requests.get(f"{replica.url}/api/test/status/{run_id}", timeout=30).json()


def test_a_starting_replica_fails_only_the_jobs_of_dead_ones(lake, tmp_path):
    """A job runs on replica A; B starts and leaves it running; A is killed; C starts and marks
    it failed, as a restarted single process would."""
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_hang_model.py").write_text(HANG_MODULE)
    flags = ["--tests-dir", str(tests)]
    (runner,) = lake.start(1, flags)
    run = requests.post(f"{runner.url}/api/test/run", json={"model_name": "hang-model"}, timeout=30)
    assert run.status_code in (200, 201, 202), run.text
    run_id = run.json()["run_id"]
    pids = read_pids(tests / "hang.pids")
    (second,) = lake.start(1, flags)  # recovers at its start: the job is not its to fail
    assert _status(second, run_id)["status"] == "running"
    runner.signal(signal.SIGKILL)
    runner.process.wait(30)
    for pid in pids:
        process_gone(pid)
    (third,) = lake.start(1, flags)
    status = wait_until(
        lambda: (found := _status(third, run_id))["status"] == "failed" and found, 30,
        message="the dead replica's job failed",
    )  # fmt: skip
    assert status["error"] == "component restarted while the job was running"
