"""The Test Suite's analyses on planted data with known answers: compare, flaky, pass rate."""

from datetime import UTC, datetime, timedelta

import pytest

from unified_api_server.components.test import analysis

START = datetime(2026, 3, 1, tzinfo=UTC)


def _at(hours):
    return (START + timedelta(hours=hours)).isoformat()


def _steps(**outcomes):
    return [{"name": name, "status": status} for name, status in outcomes.items()]


@pytest.fixture
def planted_batches(client, make_run):
    """Store batch "before" (two runs) and batch "after" (one run) with known differences."""
    for batch in ("before", "after"):
        assert client.post("/api/test/db/batches", json={"batch_id": batch}).status_code == 201
    # The later run of "before" decides its outcome of test_b (failed, then passed).
    make_run(
        run_id="b1",
        batch_id="before",
        started_at=_at(0),
        steps=_steps(test_a="passed", test_b="failed", test_gone="passed"),
    )
    make_run(
        run_id="b2",
        batch_id="before",
        started_at=_at(1),
        steps=_steps(test_b="passed", test_c="failed", test_d="skipped", test_e="error"),
    )
    make_run(
        run_id="a1",
        batch_id="after",
        started_at=_at(2),
        steps=_steps(
            test_a="passed",
            test_b="failed",
            test_c="passed",
            test_d="failed",
            test_e="failed",
            test_new="passed",
        ),
    )


def test_compare_of_two_batches_sorts_every_test_by_its_change(client, planted_batches):
    body = client.get("/api/test/db/compare?baseline=before&contender=after").json
    assert body["baseline"] == {"id": "before", "kind": "batch", "runs": 2, "tests": 6}
    assert body["contender"] == {"id": "after", "kind": "batch", "runs": 1, "tests": 6}
    assert body["counts"] == {
        "newly_failing": 2,  # test_b passed (its latest), test_d skipped
        "newly_passing": 1,  # test_c
        "still_failing": 1,  # test_e: error, then failed
        "appeared": 1,
        "disappeared": 1,
        "changed": 0,
        "unchanged": 1,  # test_a
    }
    names = {key: [t["name"] for t in body[key]] for key in analysis.LISTED}
    assert names["newly_failing"] == ["test_b", "test_d"]
    assert names["newly_passing"] == ["test_c"]
    assert names["appeared"] == ["test_new"] and names["disappeared"] == ["test_gone"]
    test_b = body["newly_failing"][0]
    assert (test_b["baseline"], test_b["contender"]) == ("passed", "failed")
    assert (test_b["baseline_run_id"], test_b["contender_run_id"]) == ("b2", "a1")
    assert body["disappeared"][0]["contender"] is None


def test_compare_takes_runs_and_the_same_id_twice(client, planted_batches):
    body = client.get("/api/test/db/compare?baseline=b1&contender=a1&limit=1").json
    assert body["baseline"]["kind"] == "run"
    assert body["counts"]["newly_failing"] == 0 and body["counts"]["still_failing"] == 1
    assert body["counts"]["appeared"] == 4 and len(body["appeared"]) == 1  # listed up to limit
    same = client.get("/api/test/db/compare?baseline=before&contender=before").json
    assert same["counts"]["unchanged"] + same["counts"]["still_failing"] == 6
    assert sum(same["counts"].values()) == 6


@pytest.mark.parametrize(
    "query, status, names",
    [
        ("baseline=nope&contender=a1", 404, "nope"),
        ("baseline=b1&contender=missing", 404, "missing"),
        ("baseline=b1", 400, "contender"),
        ("baseline=b1&contender=a1&since=2026-01-01", 400, "since"),
        ("baseline=b1&contender=a1&limit=0", 400, "limit"),
    ],
)
def test_compare_refuses_what_it_cannot_answer(client, planted_batches, query, status, names):
    response = client.get(f"/api/test/db/compare?{query}")
    assert response.status_code == status
    assert names in response.json["error"]["message"]


def test_newly_failing_is_against_the_previous_run_of_the_configuration(app, make_run):
    make_run(run_id="p1", started_at=_at(0), steps=_steps(x="passed", y="passed"))
    make_run(run_id="other", started_at=_at(1), hardware=["cuda"], steps=_steps(x="failed"))
    make_run(run_id="p2", started_at=_at(2), steps=_steps(x="failed", y="passed"))
    cursor = app.extensions["component"].database.cursor()
    assert analysis.previous_run(cursor, "p2") == "p1"  # not the cuda run in between
    found = analysis.newly_failing(cursor, "p2")
    assert [(t["name"], t["baseline_run_id"]) for t in found] == [("x", "p1")]
    assert analysis.newly_failing(cursor, "p1") == []
    assert analysis.newly_failing(cursor, "no-such-run") is None


@pytest.fixture
def planted_flaky(make_run):
    """Store 12 runs of one configuration: test_flaky alternates, test_broken always fails,
    test_fixed fails twice then passes, test_ok always passes; one run on cuda differs."""
    for index in range(12):
        outcome = "passed" if index % 2 else "failed"
        fixed = "failed" if index < 2 else "passed"
        make_run(
            run_id=f"f{index}",
            status="completed",
            started_at=_at(index),
            hardware=["cuda", "cpu"] if index % 3 else ["cpu", "cuda"],  # order is no change
            steps=_steps(
                test_flaky=outcome, test_broken="error", test_fixed=fixed, test_ok="passed"
            ),
        )
    make_run(run_id="g0", started_at=_at(20), hardware=["cuda"], steps=_steps(test_flaky="passed"))


def test_a_planted_flaky_test_is_found_with_its_flip_rate(client, planted_flaky):
    body = client.get("/api/test/db/flaky?model_name=bert-base-uncased&window=20").json
    assert [t["name"] for t in body["tests"]] == ["test_flaky"]  # broken and fixed are not
    flaky = body["tests"][0]
    assert flaky["hardware"] == ["cpu", "cuda"]
    assert (flaky["runs"], flaky["passed"], flaky["failed"], flaky["flips"]) == (12, 6, 6, 11)
    assert flaky["flip_rate"] == 1.0
    assert flaky["last_outcomes"][:3] == ["passed", "failed", "passed"]  # newest first
    fixed = client.get("/api/test/db/flaky?window=20&min_flips=1").json["tests"]
    assert {t["name"]: round(t["flip_rate"], 4) for t in fixed} == {
        "test_flaky": 1.0,
        "test_fixed": round(1 / 11, 4),
    }


def test_flaky_looks_only_at_the_window_and_takes_the_grammar(client, planted_flaky):
    last_three = client.get("/api/test/db/flaky?window=3").json["tests"]
    assert [(t["runs"], t["flips"]) for t in last_three] == [(3, 2)]
    assert client.get("/api/test/db/flaky?hardware=rocm").json["tests"] == []
    until = client.get(f"/api/test/db/flaky?until={_at(3).replace('+', '%2B')}").json
    assert [(t["runs"], t["flip_rate"]) for t in until["tests"]] == [(3, 1.0)]


@pytest.mark.parametrize(
    "query, name",
    [("window=0", "window"), ("window=10001", "window"), ("colour=red", "colour")],
)
def test_flaky_and_history_refuse_bad_input(client, query, name):
    for route in ("flaky", "history"):
        response = client.get(f"/api/test/db/{route}?{query}")  # history: window is unknown
        assert response.status_code == 400, (route, query)
        assert name in response.json["error"]["message"]
    assert client.get("/api/test/db/history?bucket=week").status_code == 400


def test_pass_rate_history_per_run_and_per_day(client, make_run):
    make_run(run_id="h1", started_at=_at(0), steps=_steps(a="passed", b="failed", c="skipped"))
    make_run(run_id="h2", started_at=_at(1), steps=_steps(a="passed", b="passed", c="error"))
    make_run(run_id="h3", started_at=_at(30), steps=_steps(a="passed", b="running"))
    make_run(run_id="h4", started_at=_at(31), model_name="other", steps=_steps(a="failed"))
    runs = client.get("/api/test/db/history?model_name=bert-base-uncased&bucket=run").json
    assert [p["run_id"] for p in runs["points"]] == ["h1", "h2", "h3"]  # oldest first
    h1 = runs["points"][0]
    assert (h1["passed"], h1["failed"], h1["error"], h1["skipped"]) == (1, 1, 0, 1)
    assert [p["pass_rate"] for p in runs["points"]] == [0.5, round(2 / 3, 6), 1.0]
    days = client.get("/api/test/db/history?model_name=bert-base-uncased&bucket=day").json
    assert [(p["started_at"], p["runs"], p["passed"]) for p in days["points"]] == [
        ("2026-03-01T00:00:00+00:00", 2, 3),
        ("2026-03-02T00:00:00+00:00", 1, 1),
    ]
    assert days["points"][0]["pass_rate"] == 0.6
    latest = client.get("/api/test/db/history?bucket=run&limit=1").json["points"]
    assert [p["run_id"] for p in latest] == ["h4"] and latest[0]["pass_rate"] == 0.0
