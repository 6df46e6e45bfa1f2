"""A component that stops mid-job: the job ends failed with the reason, its processes gone."""

import signal

import pytest
import requests

from tests.jobs.conftest import HANG_MODULE, process_gone, read_pids, start_component


@pytest.fixture
def data_dir(tmp_path):
    """Return a data folder with the hanging test module."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_hang_model.py").write_text(HANG_MODULE)
    return tmp_path


@pytest.mark.parametrize(
    "how, reason",
    [
        (signal.SIGKILL, "component restarted while the job was running"),
        (signal.SIGTERM, "component stopped while the job was running"),
    ],
)
def test_job_is_failed_after_a_restart(data_dir, how, reason):
    """Killed (or stopped) mid-run, then started again: the run is failed, nothing survives."""
    service = start_component("test", data_dir)
    try:
        run = requests.post(
            service.url + "/api/test/run", json={"model_name": "hang-model"}, timeout=10
        ).json()
        pids = read_pids(data_dir / "tests" / "hang.pids")
        service.signal(how)
        service.process.wait(30)
        assert all(process_gone(pid) for pid in pids), pids
    finally:
        service.stop()
    again = start_component("test", data_dir)
    try:
        status = requests.get(f"{again.url}/api/test/status/{run['run_id']}", timeout=10).json()
        assert status["status"] == "failed", status
        assert status["error"] == reason
        assert status["completed_at"] is not None
    finally:
        again.stop()
