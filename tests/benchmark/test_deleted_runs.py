"""A deleted run takes what its judging derived with it: its verdicts, its distribution marks
and its samples go in the same transaction, by a single delete or a batch's, and no list,
history, comparison or model view shows it afterwards."""

import duckdb

from tests.benchmark.test_regressions import BASE, STEP_AT, series, store
from unified_api_server.core.web.app import create_app
from unified_api_server.registry import BY_NAME

HISTORY = {"hardware": "cpu", "batch_size": 1, "precision": "fp32", "metric": "latency_ms_mean"}
DERIVED = ("benchmark_verdicts", "benchmark_distribution_changes", "benchmark_samples")


def _left(client, run_ids):
    """Return ``{table: rows}`` the runs ``run_ids`` still have in the derived tables."""
    state = client.application.extensions["component"]
    with state.database.cursor() as cursor:
        return {
            table: cursor.execute(
                f"SELECT count(*) FROM {table} WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
                [list(run_ids)],
            ).fetchone()[0]
            for table in DERIVED
        }


def _shown(client, model):
    """Return every run id the reads show for ``model``'s latency series."""
    args = {"model_name": model, **HISTORY, "include": "verdicts"}
    history = client.get(f"{BASE}/history", query_string=args).get_json()
    listed = client.get(f"{BASE}/runs", query_string={"model_name": model, "regression": "true"})
    latest = client.get(f"{BASE}/verdicts", query_string={"model_name": model}).get_json()
    return (
        {p["run_id"] for p in history["points"]}
        | {j["run_id"] for j in history["judged"]}
        | {r["run_id"] for r in listed.get_json()["runs"]}
        | {v["run_id"] for v in latest["verdicts"]}
    )


def test_deleting_a_run_deletes_its_verdicts_marks_and_samples(client):
    runs = store(client, series("deleted-one", count=STEP_AT + 1))
    step = runs[STEP_AT]["run_id"]
    client.post(f"{BASE}/run/{step}/distribution-change")
    client.post(f"{BASE}/run/{step}/samples", json=[{"value": 1.0}, {"value": 2.0}])
    assert step in _shown(client, "deleted-one")
    assert all(_left(client, [step]).values())
    assert client.delete(f"{BASE}/run/{step}").status_code == 200
    assert _left(client, [step]) == dict.fromkeys(DERIVED, 0)
    assert step not in _shown(client, "deleted-one")
    latest = client.get(f"{BASE}/verdicts", query_string={"model_name": "deleted-one"})
    assert {v["run_id"] for v in latest.get_json()["verdicts"]} == {runs[STEP_AT - 1]["run_id"]}


def test_deleting_a_batch_with_its_runs_deletes_their_verdicts(client):
    assert client.post(f"{BASE}/batches", json={"batch_id": "doomed"}).status_code == 201
    bodies = [{**body, "batch_id": "doomed"} for body in series("deleted-batch")]
    run_ids = [run["run_id"] for run in store(client, bodies)]
    assert _left(client, run_ids)["benchmark_verdicts"] > 0
    gone = client.delete(f"{BASE}/batch/doomed", query_string={"delete_runs": "true"})
    assert gone.status_code == 200
    assert _left(client, run_ids) == dict.fromkeys(DERIVED, 0)
    assert not _shown(client, "deleted-batch")
    pair = {"baseline": run_ids[0], "contender": run_ids[-1]}
    compared = client.get(f"{BASE}/compare", query_string=pair)
    assert compared.status_code == 404 and run_ids[0] in compared.get_json()["error"]["message"]


def test_migration_5_forgets_what_runs_deleted_before_it_left(tmp_path):
    """A database whose deletes left verdicts and marks behind (runs deleted by an older
    release, whose delete did not take them) is cleaned when migration 5 is applied."""
    path = str(tmp_path / "older.duckdb")
    app = create_app(BY_NAME["benchmark"], {"db_path": path})
    runs = store(app.test_client(), series("older", count=STEP_AT + 1))
    app.test_client().post(f"{BASE}/run/{runs[0]['run_id']}/distribution-change")
    app.extensions["component"].database.close()
    gone, kept = runs[0]["run_id"], runs[1]["run_id"]
    with duckdb.connect(path) as connection:  # the older release: the run row alone went
        connection.execute("DELETE FROM benchmark_runs WHERE run_id = ?", [gone])
        connection.execute("DELETE FROM schema_migrations WHERE version = 5")
    app = create_app(BY_NAME["benchmark"], {"db_path": path})
    client = app.test_client()
    try:
        assert _left(client, [gone]) == dict.fromkeys(DERIVED, 0)
        assert _left(client, [kept])["benchmark_verdicts"] == 2
    finally:
        app.extensions["component"].database.close()
