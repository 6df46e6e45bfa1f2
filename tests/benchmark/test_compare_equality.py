"""Compare's one statement answers what pairing in Python answered (``compare_reference``), byte
for byte once parsed, over generated batches: several runs of a configuration (the latest
stands, ties by run id), missing parts, missing and zero figures, named metrics on one side
only or of a headline figure's name, unknown directions, and stored thresholds."""

import random

import orjson
import pytest

from tests.benchmark import compare_reference as reference
from unified_api_server.components.benchmark.series import CONFIGURATION

BASE = "/api/benchmark/db"
FIGURES = ("latency_ms_mean", "latency_ms_p50", "throughput", "memory_mb")
NAMES = ("tokens_per_s", "energy_j", "throughput", "quality")


VALUES = (0.0, 1.0, 2.5, 3.0, 100.0, 110.0, 250.5, 1e-3, 7.25)


def _value(pick):
    return pick.choice((None, *VALUES))


def _fill(database, seed):
    pick = random.Random(seed)
    runs, metrics = [], []
    for i in range(400):
        batch = pick.choice(["before", "after", None])
        configuration = (
            pick.choice(["m1", "m2", "m\u00e9"]),
            pick.choice(["cpu", "cuda:0", "cuda:1"]),
            pick.choice([None, 1, 2, 10]),
            pick.choice([None, "fp16", "fp32"]),
        )
        started = f"2026-01-01 00:{pick.randrange(6):02d}:00+00"  # ties: the run id decides
        figures = [_value(pick) for _ in FIGURES]
        status = pick.choice(["completed", "completed", "failed"])
        runs.append((f"r{i:04d}", batch, *configuration, started, status, *figures))
        for name in pick.sample(NAMES, pick.randrange(len(NAMES) + 1)):
            metrics.append(
                (f"r{i:04d}", name, pick.choice(VALUES), pick.choice([True, False, None]))
            )

    def write(cursor):
        cursor.execute("INSERT INTO benchmark_batch_runs (batch_id) VALUES ('before'), ('after')")
        columns = ", ".join(
            ("run_id", "batch_id", *CONFIGURATION, "started_at", "status", *FIGURES)
        )
        cursor.executemany(
            f"INSERT INTO benchmark_runs ({columns}) VALUES ({', '.join('?' * 12)})", runs
        )
        cursor.executemany(
            "INSERT INTO benchmark_metrics (run_id, name, value, lower_is_better) "
            "VALUES (?, ?, ?, ?)",
            metrics,
        )
        cursor.execute(
            "INSERT INTO benchmark_thresholds (model_name, hardware, batch_size, precision, "
            "metric, percent, z, window_size, min_points) VALUES "
            "('m1', NULL, NULL, NULL, NULL, 50.0, 3, 20, 5), "
            "(NULL, 'cpu', NULL, NULL, 'throughput', 1.0, 3, 20, 5), "
            "('m2', 'cuda:0', 10, NULL, NULL, 0.5, 3, 20, 5), "
            "(NULL, NULL, NULL, NULL, 'tokens_per_s', 200.0, 3, 20, 5)"
        )

    database.run_write(write)


def _expected(cursor, wheres, keys):
    sides = [reference._runs(cursor, where, params) for where, params in wheres]
    return sides, reference.pair(cursor, *sides, keys)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compare_answers_as_pairing_in_python_did(client, seed):
    database = client.application.extensions["component"].database
    _fill(database, seed)
    cursor = database.cursor()
    asked = [
        ({"baseline": "before", "contender": "after"}, None),
        ({"baseline": "after", "contender": "before"}, None),
        ({"baseline": "r0003", "contender": "after"}, None),
        ({"model_name": "m1", "hardware": "cpu,cuda:0"}, "hardware"),
        ({"model_name": "m2", "precision": "fp32,fp16", "batch_size": "10"}, "precision"),
    ]
    for args, varied in asked:
        answer = client.get(f"{BASE}/compare", query_string=args)
        assert answer.status_code == 200, answer.get_json()
        if varied is None:
            kinds = [
                "run" if args[n].startswith("r") else "batch" for n in ("baseline", "contender")
            ]
            column = {"run": "run_id", "batch": "batch_id"}
            wheres = [(f"{column[k]} = ?", [args[n]]) for k, n in zip(kinds, args)]
            sides, body = _expected(cursor, wheres, CONFIGURATION)
            named = {n: {"id": args[n], "kind": k} for n, k in zip(args, kinds)}
        else:
            values = args[varied].split(",")
            where = f"model_name = ? AND status = 'completed' AND {varied} = ?"
            extra = [int(args["batch_size"])] if "batch_size" in args else []
            where += " AND batch_size = ?" if extra else ""
            wheres = [(where, [args["model_name"], value, *extra]) for value in values]
            keys = tuple(n for n in CONFIGURATION if n != varied)
            sides, body = _expected(cursor, wheres, keys)
            named = {"model_name": args["model_name"], "varied": varied}
            named.update(
                {n: {"kind": varied, "id": v} for n, v in zip(("baseline", "contender"), values)}
            )
        for name, runs in zip(("baseline", "contender"), sides):
            named[name]["runs"] = len(runs)
        expected = {**named, **body}
        assert body["pairs"], args  # something was paired
        assert orjson.dumps(answer.get_json()) == orjson.dumps(expected), args
    cursor.close()
