"""Replicas of one component on one DuckLake (a real PostgreSQL catalog, one Parquet folder):
concurrent writes lose nothing and repeat no id, a replica killed with SIGKILL loses nothing it
acknowledged, and a write in one replica reaches the change streams of the others."""

import json
import signal
import threading
import uuid

import orjson
import requests
import websocket

from tests.support import wait_until
from unified_api_server.core.data.database import Database
from unified_api_server.core.data.lake import LakeStorage

ITEMS = "/api/test/db/runs"


def _run(model, run_id=None, metrics=3):
    body = {"model_name": model, "hardware": ["cpu"], "status": "completed"}
    body["metrics"] = [{"name": f"m{i}", "value": float(i)} for i in range(metrics)]
    return {"run_id": run_id, **body} if run_id else body


def _create_many(url, prefix, count, acknowledged, errors):
    """POST ``count`` runs with ids of our own; remember the acknowledged ones."""
    session = requests.Session()
    for number in range(count):
        run_id = f"{prefix}-{number}"
        try:
            response = session.post(url + ITEMS, json=_run(prefix, run_id), timeout=60)
        except requests.RequestException as exc:
            errors.append(f"{run_id}: {exc}")
            continue
        if response.status_code == 201:
            acknowledged.append(run_id)
        else:
            errors.append(f"{run_id}: {response.status_code} {response.text[:200]}")


def _bulk(url, prefix, count):
    rows = [{"model_name": prefix, "hardware": ["gpu"], "duration": float(i)} for i in range(count)]
    data = b"\n".join(orjson.dumps(row) for row in rows)
    response = requests.post(f"{url}{ITEMS}/bulk", data=data, timeout=120)
    assert response.status_code == 201, response.text
    return response.json()["stored"]


def _lake_counts(lake, sql):
    """Run ``sql`` on the lake itself (a reader of its own, as any process can be)."""
    database = Database(
        None, auto_migrate=False, storage=LakeStorage(lake.catalog_url, lake.data_path, 0)
    )
    cursor = database.cursor()
    try:
        return cursor.execute(sql).fetchall()
    finally:
        cursor.close()
        database.close()


def test_two_replicas_ingest_concurrently_without_loss_or_repeats(lake):
    """Creates (with child rows) and bulk loads on two replicas at once: every row stored
    once, every run's and every child row's id distinct, both replicas see all of it."""
    first, second = lake.start(2)
    acknowledged, errors = [], []
    work = [
        threading.Thread(target=_create_many, args=(r.url, f"r{n}-{t}", 12, acknowledged, errors))
        for n, r in enumerate((first, second))
        for t in range(2)
    ]
    bulk_stored = []
    work += [
        threading.Thread(target=lambda r=r, n=n: bulk_stored.append(_bulk(r.url, f"bulk{n}", 500)))
        for n, r in enumerate((first, second))
    ]
    for thread in work:
        thread.start()
    for thread in work:
        thread.join(300)
    assert not errors and len(acknowledged) == 48 and bulk_stored == [500, 500]
    for replica in (first, second):
        stats = replica.get("/api/test/db/models/stats").json()
        assert stats["summary"]["total_runs"] == 1048, stats
    ((runs, distinct_runs),) = _lake_counts(
        lake, "SELECT count(*), count(DISTINCT run_id) FROM test_runs"
    )
    ((rows, distinct_ids, orphans),) = _lake_counts(
        lake,
        "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE run_id NOT IN "
        "(SELECT run_id FROM test_runs)) FROM test_run_metrics",
    )
    assert (runs, distinct_runs) == (1048, 1048)
    assert (rows, distinct_ids, orphans) == (144, 144, 0)
    one = second.get(f"/api/test/db/run/{acknowledged[0]}").json()  # written by either
    assert [m for m in one["metrics"]] == ["m0", "m1", "m2"]


def test_one_client_id_sent_to_both_replicas_is_stored_once(lake):
    """The same new id with different bodies on two replicas at once: one 201, one 409."""
    first, second = lake.start(2)
    for attempt in range(3):
        run_id = f"same-{attempt}"
        answers = []
        threads = [
            threading.Thread(
                target=lambda r=r, m=m, i=run_id, got=answers: got.append(
                    requests.post(r.url + ITEMS, json=_run(m, i), timeout=60).status_code
                )
            )
            for r, m in ((first, "alpha"), (second, "beta"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(answers) == [201, 409]
    ((count,),) = _lake_counts(lake, "SELECT count(*) FROM test_runs WHERE run_id LIKE 'same-%'")
    assert count == 3


def test_kill_9_of_a_replica_mid_ingest_loses_no_acknowledged_row(lake):
    """SIGKILL one replica while two clients write through both: every acknowledged run is
    stored, and the other replica keeps serving reads and writes."""
    doomed, survivor = lake.start(2)
    acknowledged, errors = [], []
    writers = [
        threading.Thread(target=_create_many, args=(r.url, f"k{n}", 30, acknowledged, errors))
        for n, r in enumerate((doomed, survivor))
    ]
    for thread in writers:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 10, 120, message="10 acknowledged runs")
    doomed.signal(signal.SIGKILL)
    for thread in writers:
        thread.join(300)
    doomed.process.wait(10)
    assert any(e.startswith("k0-") for e in errors)  # the killed one stopped answering
    assert not [e for e in errors if e.startswith("k1-")]  # the survivor never did
    stored = set()
    cursor = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = survivor.get(ITEMS, params=params).json()
        stored |= {run["run_id"] for run in page["runs"]}
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert set(acknowledged) <= stored
    assert survivor.get(f"/api/test/db/run/{acknowledged[-1]}").status_code == 200
    extra = requests.post(survivor.url + ITEMS, json=_run("after", str(uuid.uuid4())), timeout=60)
    assert extra.status_code == 201


def test_a_write_on_one_replica_reaches_the_change_stream_of_another(lake):
    """A client on replica B's change stream hears of a create and a bulk load on replica A."""
    writer, listener = lake.start(2)
    stream = websocket.create_connection(f"ws://127.0.0.1:{listener.port}/api/test/ws", timeout=20)
    try:
        assert json.loads(stream.recv())["type"] == "subscribed"
        created = requests.post(writer.url + ITEMS, json=_run("crossing"), timeout=60).json()
        _bulk(writer.url, "crossing-bulk", 10)
        events = []
        while len(events) < 2:
            event = json.loads(stream.recv())
            if event["type"] == "change":
                events.append(event)
    finally:
        stream.close()
    assert (events[0]["action"], events[0]["id"]) == ("created", created["run_id"])
    assert events[1]["action"] == "bulk_created" and events[1]["count"] == 10
    assert events[1]["model_names"] == ["crossing-bulk"]


def test_an_alert_raised_on_one_replica_is_announced_once_on_each(lake):
    """Failed runs written through replica A raise one alert: a listener on A and one on B
    each hear of it once, and B lists it."""
    writer, other = lake.start(2)
    streams = [
        websocket.create_connection(f"ws://127.0.0.1:{r.port}/api/test/ws", timeout=20)
        for r in (writer, other)
    ]
    try:
        for stream in streams:
            assert json.loads(stream.recv())["type"] == "subscribed"
        for _ in range(6):
            body = {**_run("failing", metrics=0), "status": "failed"}
            assert requests.post(writer.url + ITEMS, json=body, timeout=60).status_code == 201
        marker = requests.post(writer.url + ITEMS, json=_run("marker"), timeout=60).json()
        heard = []
        for stream in streams:
            alerts = []
            while True:  # every event up to the marker's creation, which came last
                event = json.loads(stream.recv())
                if event["type"] == "alert":
                    alerts.append((event["action"], event["alert"]["kind"]))
                if event.get("id") == marker["run_id"]:
                    break
            heard.append(alerts)
    finally:
        for stream in streams:
            stream.close()
    assert heard[0] == heard[1] == [("raised", "job_failure_rate")]
    listed = other.get("/api/test/db/alerts").json()
    assert [a["kind"] for a in listed["alerts"]] == ["job_failure_rate"]
