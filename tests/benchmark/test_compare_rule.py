"""Compare and the judging at ingest differ on purpose: a stored run is judged against its
window (percent AND z), a pair by its percent change alone (a pair has no window). The answer
says which rule it applied."""

from tests.benchmark.test_regressions import BASE, run_body, store


def test_a_pair_is_judged_by_percent_alone_and_says_so(client):
    noisy = [run_body("noisy", i, latency_ms_mean=10.0 if i % 2 == 0 else 14.0) for i in range(9)]
    runs = store(client, noisy)
    judged = runs[-2]["analysis"]["latency_ms_mean"]  # 14 against a window of 10s and 14s
    assert judged["change"] > 0.1 and abs(judged["z"]) < 3
    assert judged["verdict"] == "ok"  # over the percent, but the window is noisy
    pair = {"baseline": runs[-3]["run_id"], "contender": runs[-2]["run_id"]}  # 10 -> 14
    body = client.get(f"{BASE}/compare", query_string=pair).get_json()
    assert body["rule"] == "percent"
    compared = body["pairs"][0]["metrics"]["latency_ms_mean"]
    assert (compared["change_percent"], compared["verdict"]) == (40.0, "regression")
    assert compared["threshold_percent"] == 10.0
    variant = client.get(f"{BASE}/compare", query_string={"model_name": "noisy",
                                                          "hardware": "cpu,gpu"})  # fmt: skip
    assert variant.get_json()["rule"] == "percent"
