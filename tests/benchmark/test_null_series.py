"""A series whose batch size or precision is NULL is a series like any other: judged as one, and
read back by history with the grammar's ``field__isnull=true``.

The API stores a run given no batch size or precision with the columns' defaults (1, fp32), so
such runs are made here as a database may hold them, written by SQL: their runs and verdicts
without those parts."""

import pytest

from tests.benchmark.test_regressions import BASE, STEP_AT, series, store
from unified_api_server.components.benchmark.series import series_key_sql

UNSIZED = {"hardware": "cpu", "metric": "latency_ms_mean"}
NULL_PARTS = {"batch_size__isnull": "true", "precision__isnull": "true"}


def _bare(client, model, count=10):
    """Store ``series(model)``, then clear their batch size and precision; return the runs."""
    runs = store(client, series(model, count=count))
    state = client.application.extensions["component"]
    for table in ("benchmark_runs", "benchmark_verdicts"):
        state.database.run_write(lambda cur, table=table: _clear(cur, table, model))
    return runs


def _clear(cur, table, model):
    cur.execute(
        f"UPDATE {table} SET batch_size = NULL, precision = NULL WHERE model_name = ?", [model]
    )
    if table == "benchmark_runs":  # keyed by what they now hold, as migration 006 keys them
        cur.execute(
            f"UPDATE {table} SET series_key = {series_key_sql()} WHERE model_name = ?", [model]
        )


def test_runs_stored_without_batch_size_or_precision_take_the_defaults(client):
    (run,) = store(client, [{k: v for k, v in series("plain")[0].items() if k != "precision"}])
    assert (run["batch_size"], run["precision"]) == (1, "fp32")


def test_history_reads_a_series_without_batch_size_and_precision(client):
    bare = _bare(client, "unsized")
    sized = store(client, series("unsized")[:3])  # batch 1, fp32: another series
    assert bare[STEP_AT]["analysis"]["latency_ms_mean"]["verdict"] == "regression"
    client.post(f"{BASE}/run/{bare[2]['run_id']}/distribution-change")
    args = {"model_name": "unsized", **UNSIZED, **NULL_PARTS, "include": "verdicts"}
    answer = client.get(f"{BASE}/history", query_string=args)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert [p["run_id"] for p in body["points"]] == [run["run_id"] for run in bare]
    assert body["series"]["batch_size"] is None and body["series"]["precision"] is None
    assert [j["run_id"] for j in body["judged"]] == [bare[STEP_AT]["run_id"]]
    assert body["points"][2]["mean"] is None  # the mark starts a new window here too
    one = {"model_name": "unsized", **UNSIZED, "batch_size": 1, "precision": "fp32"}
    points = client.get(f"{BASE}/history", query_string=one).get_json()["points"]
    assert [p["run_id"] for p in points] == [run["run_id"] for run in sized]
    mixed = {**one, "batch_size__isnull": "true"}
    del mixed["batch_size"]
    assert client.get(f"{BASE}/history", query_string=mixed).get_json()["count"] == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"batch_size__isnull": "true"}, "precision"),
        ({"precision__isnull": "true", "batch_size": 1, "batch_size__isnull": "true"}, "both"),
        ({"precision__isnull": "false", "batch_size": 1}, "precision=<value>"),
        ({"precision__isnull": "maybe", "batch_size": 1}, "true or false"),
        ({"precision": "fp32", "model_name__isnull": "true"}, "model_name__isnull"),
    ],
)
def test_a_series_part_is_named_once_with_a_value_or_as_absent(client, args, named):
    _bare(client, "named", count=1)
    answer = client.get(f"{BASE}/history", query_string={"model_name": "named", **UNSIZED, **args})
    assert answer.status_code == 400
    assert named in answer.get_json()["error"]["message"]


def test_compare_pairs_runs_without_batch_size_and_precision(client):
    before, after = _bare(client, "paired", count=STEP_AT + 1)[STEP_AT - 1 :]
    pair = {"baseline": before["run_id"], "contender": after["run_id"]}
    body = client.get(f"{BASE}/compare", query_string=pair).get_json()
    (found,) = body["pairs"]
    assert found["configuration"]["precision"] is None
    assert found["metrics"]["latency_ms_mean"]["verdict"] == "regression"
