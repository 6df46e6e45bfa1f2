"""Heavy requests are bounded per component: 10 concurrent exports hold at most K slots.

The audit saw 10 concurrent full exports take a component from 949 MB to 3,954 MB RSS (its
DuckDB limit was 2 GB) and slow everyone else down. Now at most ``heavy_requests`` run; the
rest get 503 with Retry-After at once, and RSS stays within DuckDB's limit plus a margin.
"""

import os
import subprocess
import threading

import requests

from tests.support import ServiceProcess, rss_kb

MEMORY_LIMIT_MB = 512
MARGIN_MB = 384  # Python, the request threads and the Arrow batches on their way out
ROW = (
    '{"model_name": "m%d", "status": "completed", "started_at": "2026-01-01T00:00:00Z", '
    '"tests_passed": 5, "test_type": "%s"}\n'
)


def _group_rss_mb(service):
    group = os.getpgid(service.process.pid)
    pids = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout
    return sum(rss_kb(int(pid)) for pid in pids.split()) // 1024


def test_ten_concurrent_exports_stay_within_the_memory_bound(tmp_path):
    """Two run, eight are told to come back; the process stays under limit + margin."""
    extra = ["--heavy-requests", "2", "--duckdb-memory-limit", f"{MEMORY_LIMIT_MB}MB"]
    service = ServiceProcess.component("test", tmp_path, extra_args=extra).wait_ready()
    base = f"{service.url}/api/test/db"
    try:
        for _ in range(2):
            body = "".join(ROW % (i % 50, "x" * 60) for i in range(50_000)).encode()
            loaded = requests.post(f"{base}/runs/bulk", data=body, timeout=300)
            assert loaded.status_code == 201, loaded.text
        peak, done = [0], threading.Event()

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], _group_rss_mb(service))

        answers = []

        def export():
            response = requests.post(f"{base}/export", json={"format": "json"}, timeout=300)
            answers.append(response)

        sampler = threading.Thread(target=sample)
        sampler.start()
        clients = [threading.Thread(target=export) for _ in range(10)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        done.set()
        sampler.join()
        ok = [a for a in answers if a.status_code == 200]
        refused = [a for a in answers if a.status_code == 503]
        assert len(ok) + len(refused) == 10 and len(ok) >= 2, [a.status_code for a in answers]
        assert all(len(a.json()) == 100_000 for a in ok)
        for answer in refused:
            assert answer.headers["Retry-After"] == "2"
            assert "heavy requests are already running" in answer.json()["error"]["message"]
        assert peak[0] < MEMORY_LIMIT_MB + MARGIN_MB, peak[0]
        # Every slot came back when its stream ended.
        again = [requests.post(f"{base}/export", json={}, timeout=300) for _ in range(3)]
        assert [a.status_code for a in again] == [200, 200, 200]
    finally:
        service.stop()
